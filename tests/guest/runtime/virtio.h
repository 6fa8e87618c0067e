/* A small modern (1.x) virtio-over-PCI driver for the test guests: finds a
 * function's regions through its vendor capabilities, negotiates features,
 * sets up split virtqueues and MSI-X vectors, and moves buffers by
 * polling the used ring: it never takes an interrupt, so it runs where
 * interrupt delivery cannot be relied on (PVM). Guest memory is identity
 * mapped, so buffer addresses are pointers. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "pci.h"

#include <linux/virtio_ring.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VQ_MAX 4
#define VIRTIO_PCI_DEVICE_BASE 0x1040   /* modern device ID = 0x1040 + type */

struct vq {
    uint16_t index, size;
    struct vring_desc *desc;
    struct vring_avail *avail;
    struct vring_used *used;
    uint16_t free_head, nfree, last_used;
    volatile uint16_t *notify;
};

struct virtio_dev {
    const struct pci_cfg *cfg;
    unsigned slot;
    uint16_t type;                       /* VIRTIO_ID_* */
    volatile uint8_t *common, *isr, *device;
    volatile uint8_t *notify_base;
    uint32_t notify_mult;
    unsigned msix_cap, msix_vectors;
    volatile uint32_t *msix_table, *msix_pba;
    struct vq q[VQ_MAX];
};

struct vq_buf {
    void *addr;
    uint32_t len;
    bool device_writes;
};

/* Bump allocation of zeroed, aligned memory for rings and buffers, from
 * the first 2 MiB line after the guest image (never freed). */
void *dma_alloc(size_t size, size_t align);

/* Reads the capabilities of the function in `slot` (already enabled for
 * memory decoding and bus mastering) and resets it. False if it is not a
 * modern virtio device or a region is missing. */
bool virtio_open(struct virtio_dev *d, const struct pci_cfg *cfg, unsigned slot);
/* ACKNOWLEDGE, DRIVER, features (VERSION_1 | wanted, masked by what the
 * device offers), FEATURES_OK. Returns the negotiated set; *offered gets
 * the device's. 0 if the device refused FEATURES_OK. */
uint64_t virtio_negotiate(struct virtio_dev *d, uint64_t wanted, uint64_t *offered);
/* Sets queue `i` up with up to `size` entries and the MSI-X vector
 * (VIRTIO_MSI_NO_VECTOR for none); returns the vector the device accepted
 * (VIRTIO_MSI_NO_VECTOR if it refused), or -1 if the queue is missing. */
int virtio_queue_setup(struct virtio_dev *d, unsigned i, uint16_t size, uint16_t vector);
void virtio_driver_ok(struct virtio_dev *d);
uint8_t virtio_status(const struct virtio_dev *d);
void virtio_reset(struct virtio_dev *d);

/* Posts a chain (readable buffers first); returns its head or -1 when
 * out of descriptors. With `indirect`, the chain goes in a table of its
 * own and takes one ring descriptor. Not visible until vq_kick. */
int vq_add(struct vq *q, const struct vq_buf *bufs, unsigned n, bool indirect);
void vq_kick(struct vq *q);
/* Takes the next used element if there is one. */
bool vq_take(struct vq *q, uint16_t *head, uint32_t *len);
/* Waits (polling, with a time limit of several seconds) for the next used
 * element; false on time-out. */
bool vq_wait(struct vq *q, uint16_t *head, uint32_t *len);
/* Posts, kicks and waits for one chain; -1 on time-out, else the used
 * length. */
long vq_roundtrip(struct vq *q, const struct vq_buf *bufs, unsigned n, bool indirect);

/* MSI-X: enables the function's table (function mask off) with every
 * vector masked, each vector aimed at the BSP's LAPIC with `vector_base`
 * + its index. Masked vectors only ever become pending: the guest reads
 * the PBA instead of taking interrupts. */
bool virtio_msix_enable(struct virtio_dev *d, uint8_t vector_base);
bool virtio_msix_pending(const struct virtio_dev *d, unsigned vector);
void virtio_msix_mask(struct virtio_dev *d, unsigned vector, bool masked);

#endif
