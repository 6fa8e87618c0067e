/* libFuzzer target: frames a guest sends through virtio-net to user-mode
 * networking. The input is a virtio-net header and an Ethernet frame as a
 * driver lays them out, split into up to four buffers: byte 0 says how
 * many cuts, the next bytes where (each mod the length). The backend must
 * take any of them without reading outside what it was given, and any
 * frames it answers with must fit the limits the NIC relies on. slirp
 * runs restricted (restrict=on), so nothing leaves this machine. */
#include "devices/net/backend.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool deliver(void *nic, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len)
{
    (void)nic, (void)hdr;
    if (len > NET_MAX_FRAME)
        abort();
    /* Copy every byte, so ASan sees a frame that is not all there. */
    static uint8_t copy[NET_MAX_FRAME];
    memcpy(copy, frame, len);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct net_backend *be;
    if (!be) {
        struct net_config cfg = { .kind = NET_USER, .restricted = true };
        be = net_slirp_open(&cfg);
        if (!be)
            abort();
        be->deliver = deliver;
    }
    if (size < 1)
        return 0;
    unsigned cuts = data[0] % 4;
    if (size < 1 + cuts)
        return 0;
    const uint8_t *at = data + 1 + cuts;
    size_t len = size - 1 - cuts;
    /* The NIC passes only frames in these bounds to a backend. */
    if (len < NET_HDR_LEN + 14 || len > NET_HDR_LEN + NET_MAX_FRAME)
        return 0;
    /* Each buffer in its own allocation, so a read past one is caught. */
    struct iovec iov[4];
    size_t from = 0;
    unsigned n = 0;
    for (unsigned i = 0; i <= cuts; i++) {
        size_t to = i < cuts ? from + data[1 + i] % (len - from + 1) : len;
        if (to == from && i < cuts)
            continue;
        uint8_t *b = malloc(to - from ? to - from : 1);
        if (!b)
            abort();
        memcpy(b, at + from, to - from);
        iov[n++] = (struct iovec){ b, to - from };
        from = to;
    }
    be->ops->send(be, iov, n, len);
    /* Let slirp answer (ARP, ICMP, TCP resets) and run its timers. */
    struct pollfd p[64];
    int timeout = 0;
    unsigned np = be->ops->poll_fill(be, p, 64, &timeout, true);
    for (unsigned i = 0; i < np; i++)
        p[i].revents = 0;
    be->ops->poll_done(be, p, np);
    for (unsigned i = 0; i < n; i++)
        free(iov[i].iov_base);
    return 0;
}
