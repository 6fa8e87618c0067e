/* libFuzzer target: the virtqueue walker on rings the input writes. The
 * input's first bytes pick the queue size and features, the rest becomes
 * guest memory where the descriptor table and avail ring live; every chain
 * the walker accepts must lie inside guest memory and within the limits. */
#include "devices/virtio/virtqueue.h"
#include "core/guest_mem.h"

#include <stdlib.h>
#include <string.h>

#define RAM (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct guest_mem mem;
    static bool ready;
    static struct virtq_chain c;
    if (!ready) {
        char err[128];
        if (guest_mem_init(&mem, RAM, err, sizeof err) < 0)
            abort();
        ready = true;
    }
    if (size < 4)
        return 0;
    uint16_t qsize = (uint16_t)(1u << (data[0] % 11));        /* 1 .. 1024 */
    bool event_idx = data[1] & 1, indirect = data[1] & 2;
    data += 4, size -= 4;
    /* Rings at fixed places: descriptors at 0, avail after, used at 64K.
     * The input fills memory from 0 (descriptors, avail, then buffers). */
    uint8_t *ram = guest_mem_ptr(&mem, 0, RAM);
    memset(ram, 0, 0x20000);
    memcpy(ram, data, size < 0x10000 ? size : 0x10000);
    struct virtq q;
    virtq_reset(&q, 1024);
    q.size = qsize;
    q.ready = true;
    q.desc_gpa = 0;
    q.avail_gpa = (uint64_t)qsize * 16;
    q.used_gpa = 0x10000;
    if (virtq_start(&q, &mem, event_idx, indirect) < 0)
        return 0;
    for (unsigned n = 0; n < 2u * qsize + 2; n++) {
        int got = virtq_pop(&q, &c);
        if (got <= 0)
            break;
        if (c.nout + c.nin > VIRTQ_MAX_SEGS)
            abort();
        uint64_t total = 0;
        for (unsigned i = 0; i < c.nout + c.nin; i++) {
            const struct iovec *v = i < c.nout ? &c.out[i] : &c.in[i - c.nout];
            if (v->iov_len && !guest_mem_ptr(&mem, (uint64_t)((uint8_t *)v->iov_base - ram),
                                             v->iov_len))
                abort();             /* a buffer outside guest memory */
            total += v->iov_len;
        }
        if (total != c.out_len + c.in_len)
            abort();
        uint8_t byte = 0xa5;
        virtq_chain_write(&c, c.in_len ? c.in_len - 1 : 0, &byte, c.in_len ? 1 : 0);
        virtq_push(&q, c.head, (uint32_t)c.in_len);
        virtq_should_notify(&q);
    }
    return 0;
}
