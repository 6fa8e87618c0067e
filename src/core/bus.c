#include "core/bus.h"

#include "util/log.h"

#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b, const char *name)
{
    memset(b, 0, sizeof *b);
    b->name = name;
    /* Writers (a BAR move) must not starve behind a stream of vCPU
     * accesses; no reader ever takes the lock twice, so a writer-preferring
     * lock cannot deadlock here. */
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&b->lock, &a);
    pthread_rwlockattr_destroy(&a);
}

void bus_destroy(struct bus *b)
{
    free(b->ranges);
    b->ranges = NULL;
    b->n = b->cap = 0;
    pthread_rwlock_destroy(&b->lock);
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn io, void *opaque,
                 const char *name)
{
    if (len == 0 || base + len - 1 < base)
        return -1;
    pthread_rwlock_wrlock(&b->lock);
    size_t i = 0;
    while (i < b->n && b->ranges[i].base < base)
        i++;
    /* Neighbours on both sides must not overlap [base, base+len). */
    bool overlap = (i > 0 && b->ranges[i - 1].base + b->ranges[i - 1].len > base) ||
                   (i < b->n && b->ranges[i].base <= base + len - 1);
    if (overlap) {
        pthread_rwlock_unlock(&b->lock);
        return -1;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        struct bus_range *r = realloc(b->ranges, cap * sizeof *r);
        if (!r) {
            pthread_rwlock_unlock(&b->lock);
            return -1;
        }
        b->ranges = r;
        b->cap = cap;
    }
    memmove(&b->ranges[i + 1], &b->ranges[i], (b->n - i) * sizeof *b->ranges);
    b->ranges[i] = (struct bus_range){ base, len, io, opaque, name };
    b->n++;
    pthread_rwlock_unlock(&b->lock);
    return 0;
}

int bus_unregister(struct bus *b, uint64_t base)
{
    int ret = -1;
    pthread_rwlock_wrlock(&b->lock);
    for (size_t i = 0; i < b->n; i++) {
        if (b->ranges[i].base == base) {
            memmove(&b->ranges[i], &b->ranges[i + 1], (b->n - i - 1) * sizeof *b->ranges);
            b->n--;
            ret = 0;
            break;
        }
    }
    pthread_rwlock_unlock(&b->lock);
    return ret;
}

static const struct bus_range *find(const struct bus *b, uint64_t addr)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct bus_range *r = &b->ranges[mid];
        if (addr < r->base)
            hi = mid;
        else if (addr - r->base >= r->len)
            lo = mid + 1;
        else
            return r;
    }
    return NULL;
}

bool bus_access(struct bus *b, uint64_t addr, uint8_t *data, unsigned len, bool is_write)
{
    /* The handler runs outside the lock: a PCI configuration write may move
     * a BAR on this very bus. Devices live as long as the VM's vCPUs, so a
     * handler found here stays valid even if its range moves meanwhile. */
    pthread_rwlock_rdlock(&b->lock);
    const struct bus_range *r = find(b, addr);
    if (r && len <= r->len - (addr - r->base)) {
        bus_io_fn io = r->io;
        void *opaque = r->opaque;
        uint64_t offset = addr - r->base;
        pthread_rwlock_unlock(&b->lock);
        if (io)
            io(opaque, offset, data, len, is_write);
        else if (!is_write)
            memset(data, 0xff, len);
        return true;
    }
    pthread_rwlock_unlock(&b->lock);
    atomic_fetch_add_explicit(&b->unhandled, 1, memory_order_relaxed);
    if (!is_write)
        memset(data, 0xff, len);
    log_debug("unhandled %s %s at 0x%llx, %u bytes", b->name, is_write ? "write" : "read",
              (unsigned long long)addr, len);
    return false;
}
