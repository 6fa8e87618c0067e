/* The virtio 1.x PCI transport (modern interface only, virtio 1.x 4.1):
 * common, notify, ISR, device and PCI-window configuration capabilities in
 * a 64-bit BAR, MSI-X in a 32-bit one, INTx as the fallback. A device
 * (blk, net, console, rng) supplies a struct virtio_dev_ops and uses the
 * queues and notify helpers here; it never sees PCI. */
#ifndef KVMBOX_DEVICES_VIRTIO_VIRTIO_PCI_H
#define KVMBOX_DEVICES_VIRTIO_VIRTIO_PCI_H

#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtqueue.h"
#include "sandbox/sandbox.h"
#include "util/ratelimit.h"

#include <pthread.h>

#define VIRTIO_MAX_QUEUES 8

struct virtio_pci;

struct virtio_dev_ops {
    const char *name;                /* state section name too */
    uint16_t device_type;            /* VIRTIO_ID_* */
    uint32_t class_code;
    unsigned nqueues;
    uint16_t queue_size;
    unsigned config_size;
    /* Device-specific configuration space, little-endian. */
    void (*config_read)(void *dev, unsigned offset, uint8_t *data, unsigned len);
    void (*config_write)(void *dev, unsigned offset, const uint8_t *data, unsigned len);
    /* DRIVER_OK: the queues are set up; start serving them (usually a
     * worker over virtio_pci_kick_fd). Returns 0, or -1 (NEEDS_RESET). */
    int (*activate)(void *dev);
    /* Reset by the driver, or VM teardown: stop serving, forget requests. */
    void (*reset)(void *dev);
    /* The VM pauses / resumes (see device_ops in device.h): called only
     * while the device is active (after activate, before reset). */
    void (*pause)(void *dev);
    void (*resume)(void *dev);
    void (*save)(const void *dev, struct state_writer *w);
    int (*load)(void *dev, struct state_reader *r);
    void (*destroy)(void *dev);
    /* Its statistics, as device_ops.counters (device.h). NULL: none. */
    void (*counters)(const void *dev, device_counter_fn emit, void *ctx);
};

/* Locking: `lock` protects the common configuration (features, selects,
 * queue set-up, activation and reset) and is taken by the vCPU doing a BAR
 * or configuration-window access, possibly under the PCI host's lock. A
 * reset under it stops the device's thread, so a device thread must never
 * take it (nor the PCI host's lock): what device threads share with the
 * transport is atomic (status, isr, config_generation) or behind leaf
 * locks (MSI-X, INTx). Order: PCI host lock -> lock -> the device's own
 * locks (e.g. virtio-console's rx_lock) -> leaf locks. */
struct virtio_pci {
    struct pci_dev pci;
    struct pci_msix msix;
    const struct virtio_dev_ops *ops;
    void *dev;
    uint64_t device_features;
    pthread_mutex_t lock;            /* the common configuration */
    uint32_t device_feature_select, driver_feature_select;
    uint64_t driver_features;
    uint16_t msix_config;
    uint8_t status;                  /* atomic: device threads add NEEDS_RESET */
    uint8_t config_generation;       /* atomic */
    uint16_t queue_select;
    uint8_t isr;                     /* atomic; INTx follows it */
    struct ratelimit warn_limit;     /* guest-caused warnings of this device */
    struct virtq vqs[VIRTIO_MAX_QUEUES];
    uint16_t queue_vector[VIRTIO_MAX_QUEUES];
    int kick_fd[VIRTIO_MAX_QUEUES];  /* eventfds, bound by ioeventfd where possible */
    bool kick_bound[VIRTIO_MAX_QUEUES];
    uint64_t notify_base;            /* where the notify region is now */
    bool active;
    bool paused;                     /* the VM is paused: a device activated now starts paused */
    char id[DEVICE_ID_MAX];          /* the API's id: the name of the device's threads */
};

/* Creates the transport for a device with `features` (device-specific
 * bits; the transport adds VERSION_1, indirect descriptors and event
 * index) and puts it on the PCI bus. Returns NULL after logging. */
struct virtio_pci *virtio_pci_create(struct pci_host *bus, const struct virtio_dev_ops *ops,
                                     void *dev, uint64_t features);
void virtio_pci_destroy(struct virtio_pci *vp);

struct virtq *virtio_pci_queue(struct virtio_pci *vp, unsigned q);
int virtio_pci_kick_fd(const struct virtio_pci *vp, unsigned q);
bool virtio_pci_has_feature(const struct virtio_pci *vp, unsigned bit);
uint64_t virtio_pci_driver_features(const struct virtio_pci *vp);
/* After pushing used buffers: interrupts the driver if it wants one. */
void virtio_pci_notify(struct virtio_pci *vp, unsigned q);
/* The device configuration changed (config interrupt, generation++). */
void virtio_pci_config_changed(struct virtio_pci *vp);
/* A queue broke (malformed ring): DEVICE_NEEDS_RESET and tell the driver. */
void virtio_pci_needs_reset(struct virtio_pci *vp, unsigned q);

/* Serves a request: returns the bytes written into the chain, or
 * VIRTIO_SERVE_DEFERRED when it completes later (asynchronous I/O) and the
 * device pushes it itself. */
#define VIRTIO_SERVE_DEFERRED UINT32_MAX
typedef uint32_t (*virtio_serve_fn)(void *dev, const struct virtq_chain *c);
/* Serves every chain queue q holds, asking the driver not to kick
 * meanwhile and checking once more after re-enabling kicks; then
 * interrupts the driver if it wants one, or asks for a reset if the ring
 * broke. `c` is the caller's scratch chain. For a device's worker. */
void virtio_pci_serve_queue(struct virtio_pci *vp, unsigned q, struct virtq_chain *c,
                            virtio_serve_fn serve, void *dev);
/* Starts `w` on every queue's kick eventfd (tag = queue index) and, if
 * extra_fd >= 0, one more eventfd (tag = the number of queues). */
struct virtio_worker;
int virtio_pci_start_worker(struct virtio_pci *vp, struct virtio_worker *w, const char *name,
                            enum sandbox_role role, void (*fn)(void *dev, unsigned tag),
                            void *dev, int extra_fd);
/* The dev_host the device was created with (its threads start there). */
const struct dev_host *virtio_pci_host(struct virtio_pci *vp);

/* For a device's config_read: the bytes [offset, offset + len) of its
 * configuration structure `cfg` (`size` bytes), zeroes beyond its end. */
void virtio_config_copy(const void *cfg, size_t size, unsigned offset, uint8_t *data,
                        unsigned len);

/* The struct device for the VM's device list (save/load/destroy). */
extern const struct device_ops virtio_pci_device_ops;

#endif
