/* libFuzzer target: the devices' state loads, as a damaged or forged
 * snapshot would feed them. A set of devices on a fake host (the UART,
 * i8042, RTC, ACPI PM block, debug-exit, pc-testdev, the PCI host with a
 * virtio-rng on it) saves a real stream once; each input then changes
 * that stream (cut short at a point, bytes overwritten) and every device
 * loads its part in order, as vm_load_state does. The loaded devices are
 * then poked (a few port and configuration reads, a queue kick), so that
 * state a load accepted is also safe to run with. The input: u16 length
 * to cut to, then (u16 offset, u8 value) patches. */
#include "fake_host.h"

#include "core/state.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/pci/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "devices/testdev.h"
#include "devices/virtio/rng.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NDEV 7

static const struct pci_layout layout = {
    0xe0000000, { 0xc0000000, 0x20000000 }, { 1ull << 32, 1ull << 36 }
};

struct rig {
    struct fake_host f;
    struct device dev[NDEV];
};

static void build(struct rig *r)
{
    fake_host_init(&r->f, 16u << 20);
    const struct dev_host *h = &r->f.host;
    struct pci_host *pci = pci_host_create(h, &layout, &r->dev[0]);
    if (!pci || !virtio_rng_create(pci, &r->dev[1]) ||
        !serial_create(h, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, NULL, NULL, &r->dev[2]) ||
        !i8042_create(h, &r->dev[3]) || !rtc_create(h, 16u << 20, 0, &r->dev[4]) ||
        acpi_pm_create(h, 0x600, 5, 0xf, &r->dev[5]) < 0 || testdev_create(h, &r->dev[6]) < 0)
        abort();
}

static void teardown(struct rig *r)
{
    for (unsigned i = NDEV; i-- > 0;)
        r->dev[i].ops->destroy(r->dev[i].dev);
    fake_host_destroy(&r->f);
}

/* The stream every input starts from: the devices after the guest set a
 * few things up (a BAR placed, the UART's divisor, a queue address). */
static uint8_t *baseline(size_t *len)
{
    struct rig *r = calloc(1, sizeof *r);
    build(r);
    uint8_t b = 0x83;
    bus_access(&r->f.pio, SERIAL_COM1_BASE + 3, &b, 1, true);
    uint32_t bar = 0xc0000000u, a = 0x80000810u;
    bus_access(&r->f.pio, 0xcf8, (uint8_t *)&a, 4, true);
    bus_access(&r->f.pio, 0xcfc, (uint8_t *)&bar, 4, true);
    struct state_writer w;
    state_writer_init(&w);
    for (unsigned i = 0; i < NDEV; i++)
        if (r->dev[i].ops->save)
            r->dev[i].ops->save(r->dev[i].dev, &w);
    teardown(r);
    free(r);
    if (w.failed)
        abort();
    *len = w.len;
    return w.buf;   /* kept for the process's life */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *base;
    static size_t base_len;
    if (!base)
        base = baseline(&base_len);
    if (size < 2)
        return 0;
    uint8_t *s = malloc(base_len);
    memcpy(s, base, base_len);
    size_t len = (size_t)(data[0] | data[1] << 8) % (base_len + 1);
    for (size_t i = 2; i + 3 <= size; i += 3)
        s[(size_t)(data[i] | data[i + 1] << 8) % base_len] = data[i + 2];

    struct rig *r = calloc(1, sizeof *r);
    build(r);
    struct state_reader rd;
    state_reader_init(&rd, s, len);
    for (unsigned i = 0; i < NDEV; i++)
        if (r->dev[i].ops->load && r->dev[i].ops->load(r->dev[i].dev, &rd) < 0)
            break;
    /* Run with what was accepted. */
    uint8_t b;
    for (uint16_t port = SERIAL_COM1_BASE; port < SERIAL_COM1_BASE + 8; port++)
        bus_access(&r->f.pio, port, &b, 1, false);
    bus_access(&r->f.pio, 0x64, &b, 1, false);
    bus_access(&r->f.pio, 0x60, &b, 1, false);
    for (uint32_t reg = 0; reg < 0x40; reg += 4) {
        uint32_t a = 0x80000800u | reg, v;
        bus_access(&r->f.pio, 0xcf8, (uint8_t *)&a, 4, true);
        bus_access(&r->f.pio, 0xcfc, (uint8_t *)&v, 4, false);
    }
    teardown(r);
    free(r);
    free(s);
    return 0;
}
