#include "vq_driver.h"

#include <linux/virtio_ring.h>
#include <string.h>

static void w16(const struct vq_driver *d, uint64_t gpa, uint16_t v) { guest_mem_write(d->mem, gpa, &v, 2); }
static uint16_t r16(const struct vq_driver *d, uint64_t gpa)
{
    uint16_t v = 0;
    guest_mem_read(d->mem, gpa, &v, 2);
    return v;
}

uint64_t vqd_init(struct vq_driver *d, const struct guest_mem *mem, uint64_t base, uint16_t size)
{
    memset(d, 0, sizeof *d);
    d->mem = mem;
    d->size = size;
    d->desc = base;
    d->avail = base + 16ull * size;
    d->used = (d->avail + 6 + 2ull * size + 4095) & ~4095ull;
    uint64_t end = d->used + 6 + 8ull * size;
    guest_mem_fill(mem, base, 0, end - base);
    for (unsigned i = size; i-- > 0;)
        d->free[d->nfree++] = (uint16_t)i;
    return (end + 4095) & ~4095ull;
}

void vqd_write_desc(struct vq_driver *d, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    struct vring_desc v = { .addr = addr, .len = len, .flags = flags, .next = next };
    guest_mem_write(d->mem, d->desc + 16ull * i, &v, sizeof v);
}

void vqd_push_head(struct vq_driver *d, uint16_t head)
{
    w16(d, d->avail + 4 + 2ull * (d->avail_idx % d->size), head);
    d->avail_idx++;
    w16(d, d->avail + 2, d->avail_idx);
}

static uint16_t buf_flags(const struct vq_buf *b, bool more)
{
    return (uint16_t)((b->writable ? VRING_DESC_F_WRITE : 0) | (more ? VRING_DESC_F_NEXT : 0));
}

int vqd_add(struct vq_driver *d, const struct vq_buf *bufs, unsigned n, uint64_t indirect_gpa)
{
    unsigned need = indirect_gpa ? 1 : n;
    if (n == 0 || need > d->nfree)
        return -1;
    uint16_t ids[1024];
    for (unsigned k = 0; k < need; k++)
        ids[k] = d->free[--d->nfree];
    if (indirect_gpa) {
        for (unsigned k = 0; k < n; k++) {
            struct vring_desc v = { bufs[k].gpa, bufs[k].len, buf_flags(&bufs[k], k + 1 < n),
                                    (uint16_t)(k + 1) };
            guest_mem_write(d->mem, indirect_gpa + 16ull * k, &v, sizeof v);
        }
        vqd_write_desc(d, ids[0], indirect_gpa, 16u * n, VRING_DESC_F_INDIRECT, 0);
    } else {
        for (unsigned k = 0; k < n; k++)
            vqd_write_desc(d, ids[k], bufs[k].gpa, bufs[k].len, buf_flags(&bufs[k], k + 1 < n),
                           k + 1 < n ? ids[k + 1] : 0);
    }
    d->chain_len[ids[0]] = (uint16_t)need;
    for (unsigned k = 0; k + 1 < need; k++)
        d->chain_next[ids[k]] = ids[k + 1];
    w16(d, d->avail + 4 + 2ull * (d->avail_idx % d->size), ids[0]);
    d->avail_idx++;
    return ids[0];
}

void vqd_publish(struct vq_driver *d)
{
    w16(d, d->avail + 2, d->avail_idx);
}

bool vqd_kick_wanted(struct vq_driver *d)
{
    /* The new avail->idx must be visible before the flag is read, or the
     * device may have stopped polling without seeing it (Linux's
     * virtqueue_kick_prepare has the same barrier). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return !(r16(d, d->used) & VRING_USED_F_NO_NOTIFY);
}

bool vqd_get_used(struct vq_driver *d, uint16_t *id, uint32_t *len)
{
    if (r16(d, d->used + 2) == d->last_used)
        return false;
    uint64_t e = d->used + 4 + 8ull * (d->last_used % d->size);
    uint32_t v[2];
    guest_mem_read(d->mem, e, v, sizeof v);
    d->last_used++;
    *id = (uint16_t)v[0];
    *len = v[1];
    if (*id < d->size) {
        uint16_t k = *id;
        for (unsigned c = d->chain_len[*id]; c > 0; c--) {
            d->free[d->nfree++] = k;
            k = d->chain_next[k];
        }
    }
    return true;
}

void vqd_set_used_event(struct vq_driver *d, uint16_t v) { w16(d, d->avail + 4 + 2ull * d->size, v); }

void vqd_set_no_interrupt(struct vq_driver *d, bool on)
{
    w16(d, d->avail, on ? VRING_AVAIL_F_NO_INTERRUPT : 0);
}
