#include "devices/virtio/virtqueue.h"

#include "core/state.h"
#include "core/guest_mem.h"

#include <linux/virtio_ring.h>
#include <string.h>

/* Ring layouts (virtio 1.x 2.7): descriptors of 16 bytes; avail is flags,
 * idx, ring[size], used_event; used is flags, idx, {id, len}[size],
 * avail_event. */
#define DESC_SIZE 16u
#define AVAIL_RING 4u
#define USED_RING 4u
#define USED_ELEM 8u

static uint64_t avail_bytes(uint16_t size) { return AVAIL_RING + 2u * size + 2u; }
static uint64_t used_bytes(uint16_t size) { return USED_RING + USED_ELEM * size + 2u; }

/* Ring fields live in memory the guest writes concurrently: every access is
 * a single atomic load or store of an aligned field (virtq_start checks the
 * alignment). */
static uint16_t load16(const uint8_t *p)
{
    return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static void store16(uint8_t *p, uint16_t v)
{
    __atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static void store32(uint8_t *p, uint32_t v)
{
    __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

void virtq_reset(struct virtq *q, uint16_t max_size)
{
    memset(q, 0, sizeof *q);
    q->size = max_size;
}

static int fail(struct virtq *q, const char *why)
{
    q->broken = true;
    q->error = why;
    return -1;
}

int virtq_start(struct virtq *q, const struct guest_mem *mem, bool event_idx, bool indirect)
{
    q->mem = mem;
    q->event_idx = event_idx;
    q->indirect = indirect;
    q->broken = false;
    q->error = NULL;
    if (q->size == 0 || q->size > VIRTQ_MAX_SIZE)
        return fail(q, "queue size out of range");
    if ((q->desc_gpa & 15) || (q->avail_gpa & 1) || (q->used_gpa & 3))
        return fail(q, "ring address misaligned");
    q->desc = guest_mem_ptr(mem, q->desc_gpa, (uint64_t)DESC_SIZE * q->size);
    q->avail = guest_mem_ptr(mem, q->avail_gpa, avail_bytes(q->size));
    q->used = guest_mem_ptr(mem, q->used_gpa, used_bytes(q->size));
    if (!q->desc || !q->avail || !q->used)
        return fail(q, "ring outside guest RAM");
    return 0;
}

bool virtq_has_work(const struct virtq *q)
{
    if (!q->ready || q->broken || !q->avail)
        return false;
    return __atomic_load_n((const uint16_t *)(const void *)(q->avail + 2), __ATOMIC_ACQUIRE) !=
           q->last_avail;
}

static int add_segment(struct virtq *q, struct virtq_chain *c, const struct vring_desc *d)
{
    void *p = guest_mem_ptr(q->mem, d->addr, d->len);
    if (!p)
        return fail(q, "buffer outside guest RAM");
    if (c->nout + c->nin == VIRTQ_MAX_SEGS)
        return fail(q, "chain has too many buffers");
    if (d->flags & VRING_DESC_F_WRITE) {
        c->in[c->nin++] = (struct iovec){ p, d->len };
        c->in_len += d->len;
    } else {
        if (c->nin)
            return fail(q, "readable buffer after a writable one");
        c->out[c->nout++] = (struct iovec){ p, d->len };
        c->out_len += d->len;
    }
    return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
    if (q->broken)
        return -1;
    if (!q->ready || !q->avail)
        return 0;
    uint16_t avail_idx =
        __atomic_load_n((const uint16_t *)(const void *)(q->avail + 2), __ATOMIC_ACQUIRE);
    if (avail_idx == q->last_avail)
        return 0;
    if ((uint16_t)(avail_idx - q->last_avail) > q->size)
        return fail(q, "avail index ran ahead of the queue size");
    uint16_t head = load16(q->avail + AVAIL_RING + 2u * (q->last_avail % q->size));
    q->last_avail++;
    if (head >= q->size)
        return fail(q, "chain head out of range");

    c->head = head;
    c->nout = c->nin = 0;
    c->out_len = c->in_len = 0;
    const uint8_t *table = q->desc;
    unsigned table_size = q->size, budget = q->size;
    bool in_indirect = false;
    uint16_t i = head;
    for (;;) {
        if (budget-- == 0)
            return fail(q, "descriptor chain loops or exceeds its table");
        struct vring_desc d;
        memcpy(&d, table + (uint64_t)DESC_SIZE * i, sizeof d);   /* read once */
        if (d.flags & VRING_DESC_F_INDIRECT) {
            if (!q->indirect || in_indirect)
                return fail(q, "indirect descriptor not allowed here");
            if (d.flags & VRING_DESC_F_NEXT)
                return fail(q, "indirect descriptor with a next");
            if (d.len == 0 || d.len % DESC_SIZE || d.len / DESC_SIZE > VIRTQ_MAX_SIZE)
                return fail(q, "indirect table length invalid");
            table = guest_mem_ptr(q->mem, d.addr, d.len);
            if (!table)
                return fail(q, "indirect table outside guest RAM");
            table_size = budget = d.len / DESC_SIZE;
            in_indirect = true;
            i = 0;
            continue;
        }
        if (add_segment(q, c, &d) < 0)
            return -1;
        if (!(d.flags & VRING_DESC_F_NEXT))
            return 1;
        i = d.next;
        if (i >= table_size)
            return fail(q, "next descriptor out of range");
    }
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
    if (!q->used)
        return;
    uint8_t *e = q->used + USED_RING + USED_ELEM * (q->used_idx % q->size);
    store32(e, head);
    store32(e + 4, written);
    q->used_idx++;
    /* The element before the index that publishes it. */
    __atomic_store_n((uint16_t *)(void *)(q->used + 2), q->used_idx, __ATOMIC_RELEASE);
    /* After the stores: a migration that takes the record in between sends
     * the page again next round, never misses it. */
    guest_mem_dirty_host(q->mem, q->used, used_bytes(q->size));
}

void virtq_chain_written(const struct virtq *q, const struct virtq_chain *c)
{
    guest_mem_dirty_iov(q->mem, c->in, c->nin);
}

bool virtq_should_notify(struct virtq *q)
{
    if (!q->avail)
        return false;
    /* Our used->idx store must be visible before we read the driver's
     * suppression state, or both sides may wait for the other. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!q->event_idx)
        return !(load16(q->avail) & VRING_AVAIL_F_NO_INTERRUPT);
    uint16_t old = q->signalled_used, now = q->used_idx;
    bool valid = q->signalled_valid;
    q->signalled_used = now;
    q->signalled_valid = true;
    uint16_t used_event = load16(q->avail + AVAIL_RING + 2u * q->size);
    return !valid || vring_need_event(used_event, now, old);
}

void virtq_set_kicks(struct virtq *q, bool enable)
{
    if (!q->used)
        return;
    if (q->event_idx) {
        if (enable)
            store16(q->used + USED_RING + USED_ELEM * q->size, q->last_avail);
    } else {
        uint16_t f = load16(q->used);
        store16(q->used, enable ? (uint16_t)(f & ~VRING_USED_F_NO_NOTIFY)
                                : (uint16_t)(f | VRING_USED_F_NO_NOTIFY));
    }
    guest_mem_dirty_host(q->mem, q->used, used_bytes(q->size));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint64_t virtq_chain_read(const struct virtq_chain *c, uint64_t offset, void *buf, uint64_t len)
{
    return iov_copy_from(c->out, c->nout, offset, buf, len);
}

uint64_t virtq_chain_write(const struct virtq_chain *c, uint64_t offset, const void *buf,
                           uint64_t len)
{
    return iov_copy_to(c->in, c->nin, offset, buf, len);
}

void virtq_save(const struct virtq *q, struct state_writer *w)
{
    state_put_u16(w, q->size);
    state_put_u8(w, q->ready);
    state_put_u64(w, q->desc_gpa);
    state_put_u64(w, q->avail_gpa);
    state_put_u64(w, q->used_gpa);
    state_put_u16(w, q->last_avail);
    state_put_u16(w, q->used_idx);
    state_put_u16(w, q->signalled_used);
    state_put_u8(w, q->signalled_valid);
}

void virtq_load(struct virtq *q, struct state_reader *r)
{
    memset(q, 0, sizeof *q);
    q->size = state_get_u16(r);
    q->ready = state_get_u8(r) != 0;
    q->desc_gpa = state_get_u64(r);
    q->avail_gpa = state_get_u64(r);
    q->used_gpa = state_get_u64(r);
    q->last_avail = state_get_u16(r);
    q->used_idx = state_get_u16(r);
    q->signalled_used = state_get_u16(r);
    q->signalled_valid = state_get_u8(r) != 0;
}
