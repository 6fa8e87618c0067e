/* TAP backend: frames go to and come from a host TAP interface opened with
 * IFF_VNET_HDR, so checksum and segmentation offloads pass through in the
 * virtio-net header on both sides. */
#include "devices/net/backend.h"

#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define TAP_READS_PER_POLL 64        /* then let the thread serve its kicks */

struct tap {
    struct net_backend be;
    int fd;
    char ifname[IFNAMSIZ];
    /* A frame read while the guest had no buffer: delivered first. */
    struct virtio_net_hdr_v1 hdr;
    uint8_t *frame;
    size_t pending;
};

#define GUEST_OFFLOADS                                                                           \
    ((1ull << VIRTIO_NET_F_GUEST_CSUM) | (1ull << VIRTIO_NET_F_GUEST_TSO4) |                     \
     (1ull << VIRTIO_NET_F_GUEST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_ECN))
#define HOST_OFFLOADS                                                                            \
    ((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4) |                            \
     (1ull << VIRTIO_NET_F_HOST_TSO6) | (1ull << VIRTIO_NET_F_HOST_ECN))

static void tap_send(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len)
{
    struct tap *t = (struct tap *)be;
    (void)len;
    /* A full TAP queue drops the frame, as a wire would. */
    while (writev(t->fd, iov, (int)n) < 0 && errno == EINTR)
        ;
}

static unsigned tap_poll_fill(struct net_backend *be, struct pollfd *p, unsigned max,
                              int *timeout_ms, bool rx)
{
    struct tap *t = (struct tap *)be;
    (void)timeout_ms;
    if (!max)
        return 0;
    /* Without receive buffers the TAP is not read: its own queue holds
     * the frames meanwhile (and drops beyond it). */
    p[0] = (struct pollfd){ .fd = rx ? t->fd : -1, .events = POLLIN };
    return 1;
}

static void tap_poll_done(struct net_backend *be, const struct pollfd *p, unsigned n)
{
    struct tap *t = (struct tap *)be;
    if (!n || !(p[0].revents & POLLIN))
        return;
    for (int i = 0; i < TAP_READS_PER_POLL; i++) {
        if (!t->pending) {
            struct iovec iov[2] = { { &t->hdr, NET_HDR_LEN }, { t->frame, NET_MAX_FRAME } };
            ssize_t got = readv(t->fd, iov, 2);
            if (got < 0 && errno == EINTR)
                continue;
            if (got <= (ssize_t)NET_HDR_LEN)
                return;              /* EAGAIN: drained */
            t->pending = (size_t)got - NET_HDR_LEN;
        }
        if (!be->deliver(be->nic, &t->hdr, t->frame, t->pending))
            return;                  /* no buffer: kept for next time */
        t->pending = 0;
    }
}

static void tap_set_offloads(struct net_backend *be, uint64_t f)
{
    struct tap *t = (struct tap *)be;
    unsigned off = 0;
    if (f & (1ull << VIRTIO_NET_F_GUEST_CSUM)) {
        off |= TUN_F_CSUM;
        if (f & (1ull << VIRTIO_NET_F_GUEST_TSO4))
            off |= TUN_F_TSO4;
        if (f & (1ull << VIRTIO_NET_F_GUEST_TSO6))
            off |= TUN_F_TSO6;
        if ((f & (1ull << VIRTIO_NET_F_GUEST_ECN)) && (off & (TUN_F_TSO4 | TUN_F_TSO6)))
            off |= TUN_F_TSO_ECN;
    }
    if (ioctl(t->fd, TUNSETOFFLOAD, off) < 0)
        log_warn("--net tap=%s: TUNSETOFFLOAD 0x%x: %s", t->ifname, off, log_strerror(errno));
}

static void tap_close(struct net_backend *be)
{
    struct tap *t = (struct tap *)be;
    if (t->fd >= 0)
        close(t->fd);
    free(t->frame);
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .send = tap_send, .poll_fill = tap_poll_fill, .poll_done = tap_poll_done,
    .set_offloads = tap_set_offloads, .close = tap_close, .thread_role = SANDBOX_NET_TAP,
};

int net_tap_attach(const char *ifname)
{
    /* TUNSETIFF would create a missing interface (as root): a typo must
     * be an error instead, so the interface has to exist already. */
    if (!if_nametoindex(ifname)) {
        log_error("--net tap=%s: no such network interface (create it first, e.g. "
                  "ip tuntap add dev %s mode tap)", ifname, ifname);
        return -1;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        log_error("--net tap=%s: cannot open /dev/net/tun: %s", ifname, log_strerror(errno));
        return -1;
    }
    struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
    snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        log_error("--net tap=%s: %s", ifname,
                  e == EINVAL ? "not a TAP interface (a TUN, or another kind of device?)"
                  : e == EBUSY ? "in use by another process"
                  : e == EPERM ? "permission denied (run as root, or give the TAP to kvmbox's "
                                 "user: ip tuntap add dev NAME mode tap user USER)"
                               : log_strerror(e));
        close(fd);
        return -1;
    }
    return fd;
}

struct net_backend *net_tap_open(const char *ifname, int fd)
{
    if (fd < 0 && (fd = net_tap_attach(ifname)) < 0)
        return NULL;
    struct tap *t = calloc(1, sizeof *t);
    if (!t || !(t->frame = malloc(NET_MAX_FRAME))) {
        free(t);
        close(fd);
        return NULL;
    }
    t->be.ops = &tap_ops;
    snprintf(t->ifname, sizeof t->ifname, "%s", ifname);
    t->fd = fd;
    int hdr_len = (int)NET_HDR_LEN;
    if (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
        log_error("--net tap=%s: TUNSETVNETHDRSZ: %s", ifname, log_strerror(errno));
        goto fail;
    }
    /* Offer the guest the offloads this TAP can take; none are on until
     * the driver accepts them. */
    if (ioctl(t->fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN) == 0)
        t->be.features = GUEST_OFFLOADS | HOST_OFFLOADS;
    ioctl(t->fd, TUNSETOFFLOAD, 0);
    return &t->be;
fail:
    tap_close(&t->be);
    return NULL;
}
