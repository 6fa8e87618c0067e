/* Where a virtio-net NIC's frames go: a host TAP device or user-mode
 * networking (libslirp). A backend is driven from the NIC's own thread:
 * the thread polls the backend's fds next to its queue kicks, hands the
 * backend every frame the guest sends, and the backend hands received
 * frames back through `deliver`. Frames carry the 12-byte virtio-net
 * header (struct virtio_net_hdr_v1) in front in both directions. */
#ifndef KVMBOX_DEVICES_NET_BACKEND_H
#define KVMBOX_DEVICES_NET_BACKEND_H

#include "core/config.h"
#include "sandbox/sandbox.h"

#include <linux/virtio_net.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NET_HDR_LEN sizeof(struct virtio_net_hdr_v1)
/* Largest frame either way: a 64 KiB GSO packet plus Ethernet and VLAN
 * headers. */
#define NET_MAX_FRAME (65536 + 14 + 4)

struct net_backend;

/* Hands one received frame (header, then `len` bytes) to the guest.
 * Returns false when the guest has no receive buffer: keep the frame. */
typedef bool (*net_deliver_fn)(void *nic, const struct virtio_net_hdr_v1 *hdr,
                               const uint8_t *frame, size_t len);

struct state_writer;
struct state_reader;

struct net_backend_ops {
    /* A frame from the guest: `iov` holds the header then the frame,
     * `len` bytes in all (NET_HDR_LEN < len <= NET_HDR_LEN + NET_MAX_FRAME). */
    void (*send)(struct net_backend *be, const struct iovec *iov, unsigned n, size_t len);
    /* Adds the fds to poll (at most `max`) and may lower *timeout_ms.
     * `rx`: the guest has receive buffers now. Returns how many it added. */
    unsigned (*poll_fill)(struct net_backend *be, struct pollfd *p, unsigned max,
                          int *timeout_ms, bool rx);
    /* After poll() over what poll_fill added: does the backend's work. */
    void (*poll_done)(struct net_backend *be, const struct pollfd *p, unsigned n);
    /* The offloads the driver accepted (VIRTIO_NET_F_GUEST_* bits). */
    void (*set_offloads)(struct net_backend *be, uint64_t guest_features);
    /* The backend's own state, for a snapshot (while the VM is paused),
     * and back at restore (before the NIC runs; -1 after logging what is
     * wrong). NULL: none (a TAP's state is the host's). */
    void (*save)(struct net_backend *be, struct state_writer *w);
    int (*load)(struct net_backend *be, struct state_reader *r);
    void (*close)(struct net_backend *be);
    /* The sandbox role of the NIC's thread, which runs the backend. */
    enum sandbox_role thread_role;
};

struct net_backend {
    const struct net_backend_ops *ops;
    uint64_t features;               /* VIRTIO_NET_F_* offloads it can take */
    net_deliver_fn deliver;          /* set by the NIC */
    void *nic;
};

/* Attaches to an existing TAP interface (with the virtio-net header):
 * its descriptor, or -1 after logging (missing interface, not a TAP, no
 * permission). */
int net_tap_attach(const char *ifname);
/* The backend on ifname's TAP: fd, one net_tap_attach gave (taken), or -1
 * to attach now. NULL after logging. */
struct net_backend *net_tap_open(const char *ifname, int fd);
/* Starts user-mode networking with cfg's host forwards. NULL after
 * logging (a port that cannot be bound, ...). */
struct net_backend *net_slirp_open(const struct net_config *cfg);

#endif
