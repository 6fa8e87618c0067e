#include "devices/virtio/net.h"

#include "core/state.h"

#include "devices/net/backend.h"
#include "devices/thread_gate.h"
#include "devices/virtio/virtio_pci.h"
#include "util/log.h"
#include "util/thread_name.h"

#include <errno.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>
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
    /* Its own thread, not a virtio_worker: slirp hands over a different
     * set of fds and a timeout on every round (poll_fill), which an epoll
     * set fixed at start cannot follow. Stop, pause and resume go through
     * the same thread_gate as the workers'. */
    pthread_t thread;
    bool running;
    struct thread_gate gate;
    struct virtq_chain tx_chain, rx_chain;
    struct pollfd poll[NET_POLL_MAX];
    /* Frames and their bytes (without the virtio-net header) delivered to
     * the guest and handed to the backend (vm.counters), indexed by enum
     * nic_stat: added to by the NIC's thread, read by the API's, both
     * relaxed. */
    uint64_t stats[4];
};

/* Bytes then frames, for each direction. */
enum nic_stat { STAT_RX = 0, STAT_TX = 2 };
static const char *const stat_names[] = { "rx_bytes", "rx_frames", "tx_bytes", "tx_frames" };

static void count(struct nic *n, enum nic_stat dir, uint64_t len)
{
    __atomic_fetch_add(&n->stats[dir], len, __ATOMIC_RELAXED);
    __atomic_fetch_add(&n->stats[dir + 1], 1, __ATOMIC_RELAXED);
}

static void nic_counters(const void *dev, device_counter_fn emit, void *ctx)
{
    device_emit_counters(((const struct nic *)dev)->stats, stat_names, 4, emit, ctx);
}

/* Guest to backend: the header and frame as the driver laid them out. */
static uint32_t transmit(void *dev, const struct virtq_chain *c)
{
    struct nic *n = dev;
    /* A runt or an oversized frame is dropped, as a NIC would. */
    if (c->out_len >= NET_HDR_LEN + ETH_HLEN_MIN && c->out_len <= NET_HDR_LEN + NET_MAX_FRAME) {
        n->be->ops->send(n->be, c->out, c->nout, (size_t)c->out_len);
        count(n, STAT_TX, c->out_len - NET_HDR_LEN);
    }
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
        count(n, STAT_RX, len);
    }
    /* A frame larger than the buffer goes back as an empty buffer, which
     * the driver counts as a length error and drops. */
    virtq_chain_written(vq, &n->rx_chain);
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

static void nic_loop(struct nic *n)
{
    for (;;) {
        struct pollfd *p = n->poll;
        p[0] = (struct pollfd){ .fd = n->gate.fd, .events = POLLIN };
        p[1] = (struct pollfd){ .fd = virtio_pci_kick_fd(n->vp, RXQ), .events = POLLIN };
        p[2] = (struct pollfd){ .fd = virtio_pci_kick_fd(n->vp, TXQ), .events = POLLIN };
        int timeout = -1;
        unsigned nb = n->be->ops->poll_fill(n->be, p + 3, NET_POLL_MAX - 3, &timeout, rx_ready(n));
        if (poll(p, 3 + nb, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_error("virtio-net: poll: %s", log_strerror(errno));
            break;
        }
        if (p[0].revents) {
            /* Paused: parked here, the backend's fds unread (frames wait
             * in the TAP or slirp) and nothing delivered or sent. After
             * the resume a fresh round polls again; kicks seen in this
             * one are still pending in their eventfds. */
            if (thread_gate_serve(&n->gate))
                break;
            continue;
        }
        if (p[1].revents)
            drain(p[1].fd);          /* new receive buffers: the next round uses them */
        if (p[2].revents) {
            drain(p[2].fd);
            virtio_pci_serve_queue(n->vp, TXQ, &n->tx_chain, transmit, n);
        }
        n->be->ops->poll_done(n->be, p + 3, nb);
    }
}

static void *nic_thread(void *opaque)
{
    struct nic *n = opaque;
    nic_loop(n);
    thread_gate_exit(&n->gate);      /* a pause now returns at once */
    return NULL;
}

static int nic_activate(void *dev)
{
    struct nic *n = dev;
    n->be->ops->set_offloads(n->be, virtio_pci_driver_features(n->vp));
    if (thread_gate_init(&n->gate) < 0 ||
        dev_start_thread(virtio_pci_host(n->vp), &n->thread,
                         n->vp->id[0] ? n->vp->id : "virtio-net", n->be->ops->thread_role,
                         nic_thread, n) != 0) {
        log_error("virtio-net: cannot start its thread");
        thread_gate_destroy(&n->gate);
        return -1;
    }
    n->running = true;
    return 0;
}

static void nic_reset(void *dev)
{
    struct nic *n = dev;
    if (!n->running)
        return;
    thread_gate_stop(&n->gate);
    pthread_join(n->thread, NULL);
    thread_gate_destroy(&n->gate);
    n->running = false;
}

/* The VM's pause: returns once the thread is parked. A frame is sent or
 * delivered whole within a round, so nothing is left in flight. */
static void nic_pause(void *dev)
{
    struct nic *n = dev;
    if (n->running)
        thread_gate_pause(&n->gate, NULL, NULL);
}

static void nic_resume(void *dev)
{
    struct nic *n = dev;
    if (n->running)
        thread_gate_resume(&n->gate);
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
    free(n);
}

/* The NIC's own state is its transport's, and the MAC its driver read
 * (a restore onto another must say so, not confuse the guest); what its
 * backend holds (user networking's state) comes along. */
static void nic_save(const void *dev, struct state_writer *w)
{
    const struct nic *n = dev;
    state_put_bytes(w, n->mac, sizeof n->mac);
    state_put_u8(w, n->be->ops->save != NULL);
    if (n->be->ops->save)
        n->be->ops->save(n->be, w);
}

static int nic_load(void *dev, struct state_reader *r)
{
    struct nic *n = dev;
    uint8_t mac[6];
    state_get_bytes(r, mac, sizeof mac);
    bool has_backend_state = state_get_u8(r) != 0;
    if (r->failed)
        return -1;
    if (memcmp(mac, n->mac, sizeof mac)) {
        log_error("NIC %s: the snapshot's MAC is %02x:%02x:%02x:%02x:%02x:%02x, this NIC's "
                  "%02x:%02x:%02x:%02x:%02x:%02x", n->vp->id, mac[0], mac[1], mac[2], mac[3],
                  mac[4], mac[5], n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
        return -1;
    }
    if (has_backend_state != (n->be->ops->load != NULL)) {
        log_error("NIC %s: the snapshot's is on %s, this one on %s", n->vp->id,
                  has_backend_state ? "user-mode networking" : "a TAP",
                  n->be->ops->load ? "user-mode networking" : "a TAP");
        return -1;
    }
    return n->be->ops->load ? n->be->ops->load(n->be, r) : 0;
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
    .pause = nic_pause,
    .resume = nic_resume,
    .save = nic_save,
    .load = nic_load,
    .destroy = nic_destroy,
    .counters = nic_counters,
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
    n->gate.fd = -1;
    uint64_t features = be->features | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS);
    if (!(n->vp = virtio_pci_create(bus, &nic_ops, n, features))) {
        nic_destroy(n);
        return NULL;
    }
    *out = (struct device){ .ops = &virtio_pci_device_ops, .dev = n->vp };
    return n->vp;
}
