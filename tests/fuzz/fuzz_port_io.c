/* libFuzzer target: the guest-facing legacy devices (16550 UART, i8042,
 * CMOS RTC, ACPI PM block, debug-exit, pc-testdev, the POST code port) and
 * the PCI host with a virtio-rng on it, driven as a hostile guest drives
 * them: a sequence of port I/O and MMIO accesses, dispatched through the
 * buses exactly as the vCPU exit handler does (vmm/vcpu_exit.c), with time
 * stepped by the input so that the RTC's update cycle and alarm and the PM
 * timer's overflow are reached without sleeping, and the few things the
 * host does to these devices (console input, the power button) mixed in.
 * A fresh set of devices per input: nothing one input does can trip a
 * later one.
 *
 * The input is a list of operations, each starting with an op byte whose
 * top 3 bits pick the kind; whatever bytes an operation lacks read as 0.
 *   0-2  port I/O:   op, target, offset[, value: len bytes when writing]
 *   3    string I/O: op, target, offset, count (rep ins/outs of 1-16)
 *                    [, count * len bytes when writing]
 *   4-5  MMIO:       op, target, offset (u16)[, value: len bytes]
 *                    (target "raw": an 8-byte address instead of offset)
 *   6    PCI config: op, bus/dev/fn byte, register[, value: len bytes];
 *                    op bit 3: through ECAM, else CF8 then CFC
 *   7    the host's side, by op bit 4:
 *        0: time:    op, amount; the clocks move (amount + 1) units of
 *                    scale[op & 7]; op bit 3: only the host's wall clock,
 *                    backwards (an NTP step)
 *        1: events:  op bit 0 clear: console input to the UART, op, count,
 *                    count % 16 + 1 bytes; set: the power button
 * For accesses op bit 2 is the direction (1: write) and op bits 0-1 the
 * size (port I/O: 1, 2, 4, 1; MMIO: 1, 2, 4, 8). A target byte indexes a
 * table of the devices' ranges (one past the end: a raw address), so the
 * fuzzer hits registers rather than empty space; offsets run a little past
 * each range's end so that accesses straddling it are tried too.
 *
 * Checked beyond ASan and UBSan: the bus hands a device only accesses
 * inside the range it registered; a device touches no byte of the access
 * buffer beyond the access's length; interrupt lines stay below the
 * IOAPIC's 24 pins. */
#include "fake_host.h"

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"
#include "devices/debug_exit.h"
#include "devices/i8042.h"
#include "devices/pci/pci.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "devices/testdev.h"
#include "devices/virtio/rng.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM (2u << 20)
#define NDEV 8
#define MAX_GUARDS 32
#define IOAPIC_PINS 24
/* A step of a day makes the RTC's next access look at 86400 seconds for
 * the alarm: bounded per input, to keep every input fast. */
#define MAX_TIME_OPS 32
#define CANARY 0xa5
#define PAD 8                         /* canary bytes either side of an access */

/* As vm.c lays PCI out for a guest whose RAM ends below 4 GiB. */
static const struct pci_layout layout = {
    LAYOUT_PCI_ECAM_BASE,
    { LAYOUT_PCI_MMIO32_BASE, LAYOUT_PCI_MMIO32_SIZE },
    { LAYOUT_4G, LAYOUT_PCI_MMIO64_SIZE },
};

static const struct { uint16_t base, len; } pio_targets[] = {
    { SERIAL_COM1_BASE, 8 },
    { 0x60, 5 },                      /* i8042 data (0x60) to command (0x64) */
    { RTC_BASE, 2 },
    { ACPI_PM_BASE, 12 },
    { 0xcf8, 8 },                     /* CONFIG_ADDRESS, CONFIG_DATA */
    { DEBUG_EXIT_PORT, 4 },
    { TESTDEV_LATCH_PORT, 12 },       /* latch, flush-page, string latch */
    { TESTDEV_IRQ_PORT, TESTDEV_IRQ_LINES },
    { 0x80, 1 },                      /* POST code: claimed, no handler */
};
#define NPIO (sizeof pio_targets / sizeof pio_targets[0])

/* MMIO targets; the virtio function's BARs are looked up as they are now,
 * since the guest may move them. */
enum { MMIO_ECAM, MMIO_MSIX_BAR, MMIO_VIRTIO_BAR, MMIO_TESTDEV, MMIO_RAW, NMMIO };
#define VIRTIO_SLOT 1                 /* the first free slot after the bridge */
#define MSIX_BAR 1                    /* as virtio_pci.c places them */
#define VIRTIO_BAR 4
#define BAR_SPAN 0x4010               /* the virtio BAR (16 KiB) and a little */

static const int64_t time_scale_ns[8] = {
    1000, 61035 /* 1/16384 s */, 1000000, 100000000,
    NS_PER_SEC, 60 * NS_PER_SEC, 3600 * NS_PER_SEC, 86400 * NS_PER_SEC,
};

/* A device's range as registered: the bus must never hand its handler an
 * access that does not lie wholly inside. */
struct guard {
    bus_io_fn io;
    void *opaque;
    uint64_t len;
    const char *name;
};

struct rig {
    struct fake_host f;
    struct device dev[NDEV];
    unsigned ndev;
    struct pci_host *pci;
    struct serial *serial;
    void *acpi_pm;
    /* The host's clocks as the devices see them: the wall clock (RTC) and
     * the monotonic one (PM timer), moved only by the input. */
    int64_t realtime_ns, monotonic_ns;
    struct dev_clock realtime, monotonic;
    struct guard guards[MAX_GUARDS];
    unsigned nguards, time_ops;
    uint64_t console_sum;
    unsigned rx_space_calls;
};

static __attribute__((noreturn)) void violated(const char *what, const char *where)
{
    fprintf(stderr, "fuzz_port_io: %s (%s)\n", what, where);
    abort();
}

static int64_t clock_read(void *ctx) { return *(const int64_t *)ctx; }

static void checked_set_irq(void *ctx, unsigned line, bool level)
{
    if (line >= IOAPIC_PINS)
        violated("interrupt line beyond the IOAPIC's pins", "set_irq");
    fake_set_irq(ctx, line, level);
}

/* The console: every byte handed over is read (ASan checks it). */
static void console_sink(void *ctx, const uint8_t *buf, size_t len)
{
    struct rig *r = ctx;             /* the fake host is the rig's first member */
    for (size_t i = 0; i < len; i++)
        r->console_sum += buf[i];
}

/* The UART has room again for input it refused: the console would offer
 * it again; here the next input operation may. */
static void rx_space(void *ctx)
{
    ((struct rig *)ctx)->rx_space_calls++;
}

static void *no_op_thread(void *arg)
{
    (void)arg;
    return NULL;
}

/* Device threads (the RTC's interrupt thread, the virtio worker) start as
 * threads that end at once: joins work, and nothing runs beside the
 * accesses, so an input replays exactly. The RTC raises what its thread
 * would on the next register access (catch_up), which this target makes;
 * the queues are fuzz_virtqueue's and fuzz_pci_config's business. */
static int inert_start_thread(void *ctx, pthread_t *t, const char *name, enum sandbox_role role,
                              void *(*fn)(void *), void *arg)
{
    (void)ctx, (void)name, (void)role, (void)fn;
    return pthread_create(t, NULL, no_op_thread, arg);
}

static void guarded_io(void *opaque, uint64_t offset, uint8_t *data, unsigned len, bool is_write)
{
    const struct guard *g = opaque;
    if (len == 0 || len > 8 || offset >= g->len || len > g->len - offset)
        violated("the bus dispatched an access outside the range", g->name);
    g->io(g->opaque, offset, data, len, is_write);
}

/* Puts a guard in front of every range the bus has now. Ranges registered
 * later (a BAR the guest moves) go unguarded. */
static void guard_bus(struct rig *r, struct bus *b)
{
    pthread_rwlock_wrlock(&b->lock);
    for (size_t i = 0; i < b->n && r->nguards < MAX_GUARDS; i++) {
        struct bus_range *range = &b->ranges[i];
        if (!range->io)
            continue;
        struct guard *g = &r->guards[r->nguards++];
        *g = (struct guard){ range->io, range->opaque, range->len, range->name };
        range->io = guarded_io;
        range->opaque = g;
    }
    pthread_rwlock_unlock(&b->lock);
}

static struct device *next_dev(struct rig *r)
{
    return &r->dev[r->ndev++];
}

/* The devices as vm.c's setup_devices and setup_pci_devices make them. */
static void build(struct rig *r)
{
    fake_host_init(&r->f, RAM);
    r->f.host.set_irq = checked_set_irq;
    r->f.host.console_write = console_sink;
    r->f.host.start_thread = inert_start_thread;
    const struct dev_host *h = &r->f.host;
    /* A wall clock just before a second's update, so that UIP is near. */
    r->realtime_ns = 1700000000 * NS_PER_SEC + 999000000;
    r->monotonic_ns = 1000 * NS_PER_SEC;
    r->realtime = (struct dev_clock){ .now_ns = clock_read, .ctx = &r->realtime_ns };
    r->monotonic = (struct dev_clock){ .now_ns = clock_read, .ctx = &r->monotonic_ns };

    struct rtc *rtc;
    struct device *pm;
    if (!(r->serial = serial_create(h, SERIAL_COM1_BASE, SERIAL_COM1_IRQ, rx_space, r,
                                    next_dev(r))) ||
        !i8042_create(h, next_dev(r)) ||
        !(rtc = rtc_create(h, guest_mem_low_end(&r->f.mem), 0, next_dev(r))) ||
        acpi_pm_create(h, ACPI_PM_BASE, ACPI_S5_SLP_TYP, ACPI_RESET_VALUE, pm = next_dev(r)) < 0 ||
        debug_exit_create(h, next_dev(r)) < 0 || testdev_create(h, next_dev(r)) < 0 ||
        bus_register(&r->f.pio, 0x80, 1, NULL, NULL, "post-code") < 0 ||
        !(r->pci = pci_host_create(h, &layout, next_dev(r))) ||
        !virtio_rng_create(r->pci, next_dev(r)))
        violated("cannot build the devices", "build");
    rtc_set_clock(rtc, &r->realtime);
    r->acpi_pm = pm->dev;
    acpi_pm_set_clock(r->acpi_pm, &r->monotonic);
    guard_bus(r, &r->f.pio);
    guard_bus(r, &r->f.mmio);
}

static void teardown(struct rig *r)
{
    while (r->ndev > 0) {
        struct device *d = &r->dev[--r->ndev];
        d->ops->destroy(d->dev);
    }
    fake_host_destroy(&r->f);
}

/* The input, read a byte at a time; past its end, zeros. */
struct cursor {
    const uint8_t *p;
    size_t n;
};

static uint8_t take(struct cursor *c)
{
    if (!c->n)
        return 0;
    c->n--;
    return *c->p++;
}

static void take_bytes(struct cursor *c, uint8_t *out, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = take(c);
}

static uint64_t take_le(struct cursor *c, unsigned len)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < len; i++)
        v |= (uint64_t)take(c) << (8 * i);
    return v;
}

/* An access of `len` bytes, `count` times in a row (string I/O), through
 * `bus` as vcpu_exit.c makes it, in a buffer with canaries either side. */
static void guest_access(struct bus *bus, uint64_t addr, unsigned len, unsigned count, bool write,
                         struct cursor *c)
{
    uint8_t buf[PAD + 16 * 8 + PAD];
    size_t total = (size_t)len * count;
    memset(buf, CANARY, sizeof buf);
    if (write)
        take_bytes(c, buf + PAD, total);
    for (unsigned i = 0; i < count; i++)
        bus_access(bus, addr, buf + PAD + (size_t)i * len, len, write);
    for (size_t i = 0; i < sizeof buf; i++)
        if ((i < PAD || i >= PAD + total) && buf[i] != CANARY)
            violated("a device touched bytes beyond its access", bus->name);
}

static uint64_t pio_address(struct cursor *c)
{
    unsigned t = take(c) % (NPIO + 1);
    if (t == NPIO)
        return (uint16_t)take_le(c, 2);
    return (uint16_t)(pio_targets[t].base + take(c) % (pio_targets[t].len + 4u));
}

/* Where BAR `bar` of the virtio function decodes now (0 if nowhere). */
static uint64_t bar_address(struct rig *r, unsigned bar)
{
    uint32_t lo = pci_config_read(r->pci, VIRTIO_SLOT, 0, PCI_BAR0 + 4 * bar, 4);
    if (lo & PCI_BAR_IO)
        return lo & ~3u;
    uint64_t addr = lo & ~0xfu;
    if ((lo & 6) == PCI_BAR_MEM64 && bar + 1 < PCI_NUM_BARS)
        addr |= (uint64_t)pci_config_read(r->pci, VIRTIO_SLOT, 0, PCI_BAR0 + 4 * (bar + 1), 4)
                << 32;
    return addr;
}

static uint64_t mmio_address(struct rig *r, struct cursor *c)
{
    unsigned t = take(c) % NMMIO;
    if (t == MMIO_RAW)
        return take_le(c, 8);
    uint64_t off = take_le(c, 2);
    switch (t) {
    case MMIO_ECAM: return layout.ecam_base + off;         /* slots 0 and 1 */
    case MMIO_MSIX_BAR: return bar_address(r, MSIX_BAR) + off % BAR_SPAN;
    case MMIO_VIRTIO_BAR: return bar_address(r, VIRTIO_BAR) + off % BAR_SPAN;
    default: return TESTDEV_IOMEM_BASE + off % (TESTDEV_IOMEM_SIZE + 16);
    }
}

/* A configuration cycle to bus 0 (now and then bus 1), slots 0-3: the
 * host bridge, the virtio function, two empty slots. */
static void config_cycle(struct rig *r, uint8_t op, struct cursor *c)
{
    static const unsigned sizes[4] = { 1, 2, 4, 4 };
    uint8_t bdf = take(c), reg = take(c);
    unsigned bus = (bdf & 0xe0) == 0xe0, slot = bdf & 3, fn = (bdf >> 2) & 7;
    unsigned len = sizes[op & 3];
    bool write = op & 4;
    if (op & 8) {
        uint64_t addr = layout.ecam_base + ((uint64_t)bus << 20 | slot << 15 | fn << 12 | reg);
        guest_access(&r->f.mmio, addr, len, 1, write, c);
        return;
    }
    uint32_t a = 0x80000000u | bus << 16 | slot << 11 | fn << 8 | (reg & 0xfcu);
    bus_access(&r->f.pio, 0xcf8, (uint8_t *)&a, 4, true);
    guest_access(&r->f.pio, 0xcfc + (reg & 3u), len, 1, write, c);
}

static void step_time(struct rig *r, uint8_t op, struct cursor *c)
{
    int64_t delta = (take(c) + 1) * time_scale_ns[op & 7];
    if (r->time_ops++ >= MAX_TIME_OPS)
        return;
    if (op & 8) {
        /* Never below 0: 1.7e18 ns less at most 32 steps of 256 days. */
        r->realtime_ns -= delta;
        return;
    }
    r->realtime_ns += delta;
    r->monotonic_ns += delta;
}

static void host_event(struct rig *r, uint8_t op, struct cursor *c)
{
    if (op & 1) {
        acpi_pm_power_button(r->acpi_pm);
        return;
    }
    uint8_t in[16];
    size_t n = take(c) % sizeof in + 1;
    take_bytes(c, in, n);
    /* As the console does: asks first, offers anyway (it may have raced). */
    serial_can_receive(r->serial);
    serial_receive(r->serial, in, n);
}

static void run(struct rig *r, struct cursor *c)
{
    static const unsigned pio_sizes[4] = { 1, 2, 4, 1 };
    while (c->n) {
        uint8_t op = take(c);
        bool write = op & 4;
        switch (op >> 5) {
        case 0: case 1: case 2: {
            uint64_t port = pio_address(c);
            guest_access(&r->f.pio, port, pio_sizes[op & 3], 1, write, c);
            break;
        }
        case 3: {
            uint64_t port = pio_address(c);
            unsigned count = (take(c) & 15) + 1;
            guest_access(&r->f.pio, port, pio_sizes[op & 3], count, write, c);
            break;
        }
        case 4: case 5: {
            uint64_t addr = mmio_address(r, c);
            guest_access(&r->f.mmio, addr, 1u << (op & 3), 1, write, c);
            break;
        }
        case 6:
            config_cycle(r, op, c);
            break;
        default:
            if (op & 0x10)
                host_event(r, op, c);
            else
                step_time(r, op, c);
            break;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rig *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    build(r);
    struct cursor c = { data, size };
    run(r, &c);
    teardown(r);
    free(r);
    return 0;
}
