/* The driver side of a split virtqueue, as a guest's virtio driver keeps
 * it, over a guest_mem: unit tests, fuzz targets and bench/blk use it to
 * feed a device exactly as a guest would. Test code: no hostile input. */
#ifndef KVMBOX_TESTS_VQ_DRIVER_H
#define KVMBOX_TESTS_VQ_DRIVER_H

#include "core/guest_mem.h"

#include <stdbool.h>
#include <stdint.h>

struct vq_buf {
    uint64_t gpa;
    uint32_t len;
    bool writable;              /* device writes it */
};

struct vq_driver {
    const struct guest_mem *mem;
    uint16_t size;
    uint64_t desc, avail, used; /* ring addresses */
    uint16_t avail_idx, last_used;
    uint16_t free[1024];        /* free descriptor stack */
    unsigned nfree;
    uint16_t chain_len[1024];   /* descriptors held by each head */
    uint16_t chain_next[1024];
};

/* Lays the rings out from `base` (16-byte aligned): descriptors, then the
 * avail ring, then the used ring on the next 4 KiB. Returns the first
 * address after them. */
uint64_t vqd_init(struct vq_driver *d, const struct guest_mem *mem, uint64_t base, uint16_t size);
/* Posts a chain of n buffers; returns its head, or -1 if out of
 * descriptors. With indirect_gpa != 0 the buffers go into an indirect
 * table written there, and the chain takes one ring descriptor. */
int vqd_add(struct vq_driver *d, const struct vq_buf *bufs, unsigned n, uint64_t indirect_gpa);
/* Publishes every chain posted since the last call (avail->idx). */
void vqd_publish(struct vq_driver *d);
/* After vqd_publish: whether the device asks for kicks (the used ring's
 * NO_NOTIFY flag is clear). */
bool vqd_kick_wanted(struct vq_driver *d);
/* Takes the next used element; false if none. Frees its descriptors. */
bool vqd_get_used(struct vq_driver *d, uint16_t *id, uint32_t *len);
/* The driver's suppression knobs: used_event (event index) and the
 * avail ring's NO_INTERRUPT flag. */
void vqd_set_used_event(struct vq_driver *d, uint16_t v);
void vqd_set_no_interrupt(struct vq_driver *d, bool on);
/* Raw writes for hostile-input tests. */
void vqd_write_desc(struct vq_driver *d, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next);
void vqd_push_head(struct vq_driver *d, uint16_t head);   /* avail entry, idx++ */

#endif
