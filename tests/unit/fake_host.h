/* A dev_host with no VM behind it: buses, a small guest memory, and
 * recorders for interrupt lines and stop requests. */
#ifndef KVMBOX_TESTS_FAKE_HOST_H
#define KVMBOX_TESTS_FAKE_HOST_H

#include "devices/device.h"
#include "core/bus.h"
#include "core/guest_mem.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

struct fake_host {
    struct bus pio, mmio;
    struct guest_mem mem;
    struct dev_host host;
    bool irq[32];
    unsigned irq_edges[32];
    /* MSI routes by GSI (24 up) and irqfd bindings, as the device left them. */
    struct { bool routed; uint64_t addr; uint32_t data; int irqfd; } msi[64];
    unsigned next_msi;
    enum vm_stop_reason stop;
    int stop_status;
    unsigned stops;
    int console_fd;                  /* where console_write goes; -1: nowhere */
};

static inline void fake_console_write(void *ctx, const uint8_t *buf, size_t len)
{
    struct fake_host *f = ctx;
    if (f->console_fd >= 0 && write(f->console_fd, buf, len) < 0) {
        /* a test that does not read its pipe loses output, as the VMM would */
    }
}

static inline void fake_set_irq(void *ctx, unsigned line, bool level)
{
    struct fake_host *f = ctx;
    if (level && !f->irq[line])
        f->irq_edges[line]++;
    f->irq[line] = level;
}

static inline void fake_stop(void *ctx, enum vm_stop_reason why, int status)
{
    struct fake_host *f = ctx;
    if (!f->stops++) {
        f->stop = why;
        f->stop_status = status;
    }
}

static inline int fake_msi_route(void *ctx, int gsi, uint64_t addr, uint32_t data)
{
    struct fake_host *f = ctx;
    if (gsi < 0)
        gsi = 24 + (int)f->next_msi++;
    if (gsi < 24 || gsi >= 24 + 64)
        return -1;
    f->msi[gsi - 24].routed = true;
    f->msi[gsi - 24].addr = addr;
    f->msi[gsi - 24].data = data;
    return gsi;
}

static inline void fake_msi_unroute(void *ctx, int gsi)
{
    struct fake_host *f = ctx;
    if (gsi >= 24 && gsi < 24 + 64)
        f->msi[gsi - 24].routed = false;
}

static inline int fake_irqfd(void *ctx, int fd, unsigned gsi, bool assign)
{
    struct fake_host *f = ctx;
    if (gsi < 24 || gsi >= 24 + 64)
        return -1;
    f->msi[gsi - 24].irqfd = assign ? fd : -1;
    return 0;
}

/* No ioeventfd here: notifications come through the bus, as on a host
 * without KVM_IOEVENTFD. */
static inline int fake_ioeventfd(void *ctx, int fd, uint64_t addr, unsigned len, bool pio, bool assign)
{
    (void)ctx, (void)fd, (void)addr, (void)len, (void)pio, (void)assign;
    return -1;
}

static inline void fake_host_init(struct fake_host *f, uint64_t ram)
{
    memset(f, 0, sizeof *f);
    bus_init(&f->pio, "pio");
    bus_init(&f->mmio, "mmio");
    char err[128];
    assert_int_equal(guest_mem_init(&f->mem, ram, err, sizeof err), 0);
    f->host = (struct dev_host){
        .pio = &f->pio, .mmio = &f->mmio, .mem = &f->mem, .set_irq = fake_set_irq,
        .msi_route = fake_msi_route, .msi_unroute = fake_msi_unroute, .irqfd = fake_irqfd,
        .ioeventfd = fake_ioeventfd, .request_stop = fake_stop,
        .console_write = fake_console_write, .ctx = f,
    };
    f->console_fd = -1;
}

static inline void fake_host_destroy(struct fake_host *f)
{
    guest_mem_destroy(&f->mem);
    bus_destroy(&f->pio);
    bus_destroy(&f->mmio);
}

static inline uint8_t pio_in(struct fake_host *f, uint16_t port)
{
    uint8_t v;
    bus_access(&f->pio, port, &v, 1, false);
    return v;
}

static inline void pio_out(struct fake_host *f, uint16_t port, uint8_t v)
{
    bus_access(&f->pio, port, &v, 1, true);
}

#endif
