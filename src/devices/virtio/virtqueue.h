/* One split virtqueue (virtio 1.x, 2.7): the device side. Every address
 * and length the driver puts in the rings is checked through the
 * guest-memory API before use; a malformed ring (a descriptor loop, an
 * address outside RAM, a chain longer than the queue, readable after
 * writable buffers, a runaway avail index) marks the queue broken instead
 * of being followed. Shared by every virtio device. */
#ifndef KVMBOX_DEVICES_VIRTIO_VIRTQUEUE_H
#define KVMBOX_DEVICES_VIRTIO_VIRTQUEUE_H

#include "util/iov.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

struct guest_mem;
struct state_writer;
struct state_reader;

#define VIRTQ_MAX_SIZE 1024          /* largest queue (and indirect table) */
#define VIRTQ_MAX_SEGS 256           /* buffers in one chain, both directions */

struct virtq {
    /* Set by the driver through the transport. */
    uint16_t size;
    bool ready;
    uint64_t desc_gpa, avail_gpa, used_gpa;
    /* Negotiated features that change how the rings are read. */
    bool event_idx, indirect;

    /* Device-side indices. */
    uint16_t last_avail;             /* next avail entry to take */
    uint16_t used_idx;               /* our copy of used->idx */
    uint16_t signalled_used;         /* used_idx at the last interrupt (event idx) */
    bool signalled_valid;
    bool broken;                     /* ring found malformed; see error */
    const char *error;

    /* Host views of the rings, set by virtq_start. */
    const struct guest_mem *mem;
    uint8_t *desc, *avail, *used;
};

/* A descriptor chain: `out` are the driver's buffers (device reads them),
 * `in` the device-writable ones that follow, as host pointers. */
struct virtq_chain {
    uint16_t head;
    unsigned nout, nin;
    uint64_t out_len, in_len;
    struct iovec out[VIRTQ_MAX_SEGS], in[VIRTQ_MAX_SEGS];
};

/* Back to the state after reset: not ready, size `max_size`. */
void virtq_reset(struct virtq *q, uint16_t max_size);
/* Checks the ring addresses (inside RAM, aligned as the spec requires) and
 * maps them. Returns 0, or -1 with q->error set. */
int virtq_start(struct virtq *q, const struct guest_mem *mem, bool event_idx, bool indirect);

/* Takes the next available chain: 1 with c filled, 0 if none, -1 if the
 * ring is malformed (the queue is then broken and returns -1 from now on). */
int virtq_pop(struct virtq *q, struct virtq_chain *c);
/* Returns a chain to the driver with `written` bytes written into it. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/* Records (for a migration in progress) that the device wrote the chain's
 * writable buffers; call it after the writes, before or after the push. */
void virtq_chain_written(const struct virtq *q, const struct virtq_chain *c);
/* After pushes: whether the driver wants an interrupt now (event index or
 * the NO_INTERRUPT flag). Updates the event-index bookkeeping. */
bool virtq_should_notify(struct virtq *q);
/* Asks the driver not to kick (while the device is busy draining the
 * queue) or to kick again; after enabling, check virtq_has_work once more. */
void virtq_set_kicks(struct virtq *q, bool enable);
bool virtq_has_work(const struct virtq *q);

/* Copies from the chain's readable buffers starting at `offset`; returns
 * the bytes copied (short if the chain is shorter). */
uint64_t virtq_chain_read(const struct virtq_chain *c, uint64_t offset, void *buf, uint64_t len);
/* Copies into the chain's writable buffers starting at `offset`. */
uint64_t virtq_chain_write(const struct virtq_chain *c, uint64_t offset, const void *buf,
                           uint64_t len);

void virtq_save(const struct virtq *q, struct state_writer *w);
/* Restores what virtq_save wrote; the caller restarts a ready queue. */
void virtq_load(struct virtq *q, struct state_reader *r);

#endif
