#include "devices/testdev.h"

#include "core/state.h"
#include "util/log.h"
#include "core/bus.h"
#include "core/guest_mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct testdev {
    struct dev_host host;
    pthread_mutex_t lock;   /* vCPUs reach the latch and the buffer at once */
    uint8_t latch[4];
    uint8_t iomem[TESTDEV_IOMEM_SIZE];
};

/* Copies len bytes at offset between data and a buffer of size bytes; the
 * bus hands only accesses wholly inside a range, this only makes sure. */
static void buffer_io(struct testdev *t, uint8_t *buf, size_t size, uint64_t offset,
                      uint8_t *data, unsigned len, bool is_write)
{
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < len; i++) {
        bool in = offset + i < size;
        if (is_write && in)
            buf[offset + i] = data[i];
        else if (!is_write)
            data[i] = in ? buf[offset + i] : 0;
    }
    pthread_mutex_unlock(&t->lock);
}

static void latch_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct testdev *t = opaque;
    buffer_io(t, t->latch, sizeof t->latch, offset, data, len, is_write);
}

static void iomem_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct testdev *t = opaque;
    buffer_io(t, t->iomem, sizeof t->iomem, offset, data, len, is_write);
}

static uint32_t le32(const uint8_t *d, unsigned len)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)d[i] << (8 * i);
    return v;
}

/* As QEMU: dword writes only, the value a 32-bit guest-physical address. */
static void flush_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct testdev *t = opaque;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    if (offset != 0 || len != 4)
        return;
    uint64_t gpa = le32(data, len);
    if (guest_mem_flush_page(t->host.mem, gpa) < 0)
        log_debug("testdev: cannot flush guest page 0x%llx", (unsigned long long)gpa);
}

/* As QEMU: byte writes only; reads give 0. */
static void irq_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    struct testdev *t = opaque;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    if (len != 1 || offset >= TESTDEV_IRQ_LINES || !t->host.set_irq)
        return;
    t->host.set_irq(t->host.ctx, (unsigned)offset, data[0] != 0);
}

static const struct {
    bool mmio;
    uint64_t base, len;
    bus_io_fn io;
    const char *name;
} ranges[] = {
    { false, TESTDEV_LATCH_PORT, 4, latch_io, "testdev-latch" },
    { false, TESTDEV_FLUSH_PORT, 4, flush_io, "testdev-flush-page" },
    { false, TESTDEV_LATCH_STRING_PORT, 4, latch_io, "testdev-latch" },
    { false, TESTDEV_IRQ_PORT, TESTDEV_IRQ_LINES, irq_io, "testdev-irq-line" },
    { true, TESTDEV_IOMEM_BASE, TESTDEV_IOMEM_SIZE, iomem_io, "testdev-iomem" },
};

int testdev_create(const struct dev_host *host, struct device *out)
{
    struct testdev *t = calloc(1, sizeof *t);
    if (!t)
        return -1;
    t->host = *host;
    pthread_mutex_init(&t->lock, NULL);
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        struct bus *bus = ranges[i].mmio ? host->mmio : host->pio;
        if (bus_register(bus, ranges[i].base, ranges[i].len, ranges[i].io, t, ranges[i].name) < 0) {
            while (i--)
                bus_unregister(ranges[i].mmio ? host->mmio : host->pio, ranges[i].base);
            pthread_mutex_destroy(&t->lock);
            free(t);
            return -1;
        }
    }
    *out = (struct device){ .ops = &testdev_ops, .dev = t };
    return 0;
}

/* The latch and the buffer; the interrupt lines' levels live in the
 * irqchip, whose state is saved with it. */
static void testdev_save(const void *dev, struct state_writer *w)
{
    struct testdev *t = (struct testdev *)dev;
    pthread_mutex_lock(&t->lock);
    state_begin(w, testdev_ops.name, 1);
    state_put_bytes(w, t->latch, sizeof t->latch);
    state_put_bytes(w, t->iomem, sizeof t->iomem);
    state_end(w);
    pthread_mutex_unlock(&t->lock);
}

static int testdev_load(void *dev, struct state_reader *r)
{
    struct testdev *t = dev;
    uint32_t version;
    if (state_open(r, testdev_ops.name, &version) < 0 || version != 1)
        return -1;
    uint8_t latch[sizeof t->latch];
    uint8_t *iomem = malloc(sizeof t->iomem);
    if (!iomem)
        return -1;
    state_get_bytes(r, latch, sizeof latch);
    state_get_bytes(r, iomem, sizeof t->iomem);
    int ret = state_close(r);
    if (ret == 0) {
        pthread_mutex_lock(&t->lock);
        memcpy(t->latch, latch, sizeof latch);
        memcpy(t->iomem, iomem, sizeof t->iomem);
        pthread_mutex_unlock(&t->lock);
    }
    free(iomem);
    return ret;
}

static void testdev_destroy(void *dev)
{
    struct testdev *t = dev;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

const struct device_ops testdev_ops = {
    .name = "testdev",
    .save = testdev_save,
    .load = testdev_load,
    .destroy = testdev_destroy,
};
