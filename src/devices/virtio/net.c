#include "devices/virtio/net.h"

#include "devices/net/backend.h"
#include "devices/virtio/virtio_pci.h"
#include "util/log.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define NET_QUEUE_SIZE 256
#define CLASS_NETWORK_ETHERNET 0x020000
#define RXQ 0
#define TXQ 1
#define NET_POLL_MAX 256             /* the NIC's own fds plus the backend's */
#define ETH_HLEN_MIN 14

struct nic {
    struct virtio_pci *vp;
    struct net_backend *be;
    uint8_t mac[6];
    pthread_t thread;
    bool running;
    int stop_fd;
    struct virtq_chain tx_chain, rx_chain;
    struct pollfd poll[NET_POLL_MAX];
};

/* Guest to backend: the header and frame as the driver laid them out. */
static uint32_t transmit(void *dev, const struct virtq_chain *c)
{
    struct nic *n = dev;
    /* A runt or an oversized frame is dropped, as a NIC would. */
    if (c->out_len >= NET_HDR_LEN + ETH_HLEN_MIN && c->out_len <= NET_HDR_LEN + NET_MAX_FRAME)
        n->be->ops->send(n->be, c->out, c->nout, (size_t)c->out_len);
    return 0;
}

/* Backend to guest: one frame into one receive chain (no mergeable
 * buffers: the driver posts buffers big enough for what it accepted). */
static bool deliver(void *dev, const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame,
                    size_t len)
{
    struct nic *n = dev;
    struct virtq *vq = virtio_pci_queue(n->vp, RXQ);
    int got = virtq_pop(vq, &n->rx_chain);
    if (got < 0) {
        virtio_pci_needs_reset(n->vp, RXQ);
        return true;                 /* dropped: the queue is gone */
    }
    if (got == 0)
        return false;
    uint32_t written = 0;
    if (n->rx_chain.in_len >= NET_HDR_LEN + len) {
        struct virtio_net_hdr_v1 h = *hdr;
        h.num_buffers = 1;
        virtq_chain_write(&n->rx_chain, 0, &h, sizeof h);
        virtq_chain_write(&n->rx_chain, NET_HDR_LEN, frame, len);
        written = (uint32_t)(NET_HDR_LEN + len);
    }
    /* A frame larger than the buffer goes back as an empty buffer, which
     * the driver counts as a length error and drops. */
    virtq_push(vq, n->rx_chain.head, written);
    virtio_pci_notify(n->vp, RXQ);
    return true;
}

/* Whether the receive queue holds a buffer; if not, asks the driver to
 * kick when it adds one. */
static bool rx_ready(struct nic *n)
{
    struct virtq *vq = virtio_pci_queue(n->vp, RXQ);
    if (!vq->ready || vq->broken)
        return false;
    if (virtq_has_work(vq))
        return true;
    virtq_set_kicks(vq, true);
    return virtq_has_work(vq);
}

static void drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
}

static void *nic_thread(void *opaque)
{
    struct nic *n = opaque;
    for (;;) {
        struct pollfd *p = n->poll;
        p[0] = (struct pollfd){ .fd = n->stop_fd, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = virtio_pci_kick_fd(n->vp, RXQ), .events = POLLIN };
        p[2] = (struct pollfd){ .fd = virtio_pci_kick_fd(n->vp, TXQ), .events = POLLIN };
        int timeout = -1;
        unsigned nb = n->be->ops->poll_fill(n->be, p + 3, NET_POLL_MAX - 3, &timeout, rx_ready(n));
        if (poll(p, 3 + nb, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_error("virtio-net: poll: %s", strerror(errno));
            break;
        }
        if (p[0].revents)
            break;
        if (p[1].revents)
            drain(p[1].fd);          /* new receive buffers: the next round uses them */
        if (p[2].revents) {
            drain(p[2].fd);
            virtio_pci_serve_queue(n->vp, TXQ, &n->tx_chain, transmit, n);
        }
        n->be->ops->poll_done(n->be, p + 3, nb);
    }
    return NULL;
}

static int nic_activate(void *dev)
{
    struct nic *n = dev;
    n->be->ops->set_offloads(n->be, virtio_pci_driver_features(n->vp));
    drain(n->stop_fd);
    if (pthread_create(&n->thread, NULL, nic_thread, n) != 0) {
        log_error("virtio-net: cannot start its thread");
        return -1;
    }
    pthread_setname_np(n->thread, "virtio-net");
    n->running = true;
    return 0;
}

static void nic_reset(void *dev)
{
    struct nic *n = dev;
    if (!n->running)
        return;
    uint64_t one = 1;
    if (write(n->stop_fd, &one, sizeof one) < 0)
        log_warn("virtio-net: cannot stop its thread: %s", strerror(errno));
    pthread_join(n->thread, NULL);
    n->running = false;
}

static void nic_config_read(void *dev, unsigned offset, uint8_t *data, unsigned len)
{
    struct nic *n = dev;
    struct virtio_net_config cfg = { .status = VIRTIO_NET_S_LINK_UP, .max_virtqueue_pairs = 1 };
    memcpy(cfg.mac, n->mac, sizeof cfg.mac);
    virtio_config_copy(&cfg, sizeof cfg, offset, data, len);
}

static void nic_destroy(void *dev)
{
    struct nic *n = dev;
    if (n->be)
        n->be->ops->close(n->be);
    if (n->stop_fd >= 0)
        close(n->stop_fd);
    free(n);
}

static const struct virtio_dev_ops nic_ops = {
    .name = "virtio-net",
    .device_type = VIRTIO_ID_NET,
    .class_code = CLASS_NETWORK_ETHERNET,
    .nqueues = 2,
    .queue_size = NET_QUEUE_SIZE,
    .config_size = sizeof(struct virtio_net_config),
    .config_read = nic_config_read,
    .activate = nic_activate,
    .reset = nic_reset,
    .destroy = nic_destroy,
};

struct virtio_pci *virtio_net_create(struct pci_host *bus, struct net_backend *be,
                                     const uint8_t mac[6], struct device *out)
{
    struct nic *n = calloc(1, sizeof *n);
    if (!n) {
        be->ops->close(be);
        return NULL;
    }
    n->be = be;
    be->deliver = deliver;
    be->nic = n;
    memcpy(n->mac, mac, sizeof n->mac);
    n->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    uint64_t features = be->features | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS);
    if (n->stop_fd < 0 || !(n->vp = virtio_pci_create(bus, &nic_ops, n, features))) {
        nic_destroy(n);
        return NULL;
    }
    *out = (struct device){ &virtio_pci_device_ops, n->vp };
    return n->vp;
}
