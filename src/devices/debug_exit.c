#include "devices/debug_exit.h"

#include "core/state.h"
#include "core/bus.h"

#include <stdlib.h>

struct debug_exit {
    struct dev_host host;
};

static void debug_exit_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len,
                          bool is_write)
{
    struct debug_exit *d = opaque;
    (void)offset;
    if (!is_write) {
        for (unsigned i = 0; i < len; i++)
            data[i] = 0;
        return;
    }
    uint32_t v = 0;
    for (unsigned i = 0; i < len && i < 4; i++)
        v |= (uint32_t)data[i] << (8 * i);
    if (d->host.request_stop)
        d->host.request_stop(d->host.ctx, VM_STOP_DEBUG_EXIT, (int)((v << 1) | 1));
}

int debug_exit_create(const struct dev_host *host, struct device *out)
{
    struct debug_exit *d = calloc(1, sizeof *d);
    if (!d)
        return -1;
    d->host = *host;
    if (bus_register(host->pio, DEBUG_EXIT_PORT, 4, debug_exit_io, d, "debug-exit") < 0) {
        free(d);
        return -1;
    }
    *out = (struct device){ .ops = &debug_exit_ops, .dev = d };
    return 0;
}

/* Stateless: an empty section keeps the state stream's shape uniform. */
static void debug_exit_save(const void *dev, struct state_writer *w)
{
    (void)dev;
    state_begin(w, debug_exit_ops.name, 1);
    state_end(w);
}

static int debug_exit_load(void *dev, struct state_reader *r)
{
    (void)dev;
    uint32_t version;
    if (state_open(r, debug_exit_ops.name, &version) < 0 || version != 1)
        return -1;
    return state_close(r);
}

const struct device_ops debug_exit_ops = {
    .name = "debug-exit",
    .save = debug_exit_save,
    .load = debug_exit_load,
    .destroy = free,
};
