/* What a real guest checks of the platform (issue 10): the TSC-deadline
 * CPUID bit and the brand string, the ACPI PM timer and its place in the
 * FADT, the PNP devices in the DSDT, an interrupt edge for every i8042
 * byte, the aux loopback and the mouse, the RTC's update-in-progress bit
 * and alarm, and a sleep request other than S5. Time is a clock of the
 * test's own wherever the device lets it be. */
#include "fake_host.h"

#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/pci/pci.h"
#include "devices/rtc.h"
#include "core/state.h"
#include "vmm/cpuid.h"

#include <linux/kvm.h>
#include <stdatomic.h>
#include <time.h>

#define MB (1ULL << 20)

/* ---- CPUID ---------------------------------------------------------- */

struct cpuid_table {
    struct kvm_cpuid2 c;
    struct kvm_cpuid_entry2 e[8];
};

static const struct kvm_cpuid_entry2 *leaf(const struct cpuid_table *t, uint32_t fn)
{
    for (uint32_t i = 0; i < t->c.nent; i++)
        if (t->e[i].function == fn)
            return &t->e[i];
    return NULL;
}

/* Offered when KVM says it emulates the timer, and --cpu-filter still
 * hides it (cpuid_build applies the filter last). */
static void cpuid_tsc_deadline(void **state)
{
    (void)state;
    struct cpuid_table t = { .c.nent = 1 };
    t.e[0] = (struct kvm_cpuid_entry2){ .function = 1, .ecx = 0x80000000u };
    cpuid_offer_tsc_deadline(&t.c, false);
    assert_int_equal(t.e[0].ecx & (1u << 24), 0);
    cpuid_offer_tsc_deadline(&t.c, true);
    assert_int_not_equal(t.e[0].ecx & (1u << 24), 0);
    struct cpu_filter f;
    char err[64];
    assert_int_equal(cpu_filter_parse("tsc_deadline_timer", &f, err, sizeof err), 0);
    cpuid_apply(&t.c, &f);
    assert_int_equal(t.e[0].ecx & (1u << 24), 0);
}

static void brand_of(const struct cpuid_table *t, char out[49])
{
    for (uint32_t i = 0; i < 3; i++) {
        const struct kvm_cpuid_entry2 *e = leaf(t, 0x80000002 + i);
        assert_non_null(e);
        memcpy(out + 16 * i, &e->eax, 4);
        memcpy(out + 16 * i + 4, &e->ebx, 4);
        memcpy(out + 16 * i + 8, &e->ecx, 4);
        memcpy(out + 16 * i + 12, &e->edx, 4);
    }
    out[48] = 0;
}

/* KVM's zeroed (or missing) brand leaves get the host's brand and the
 * extended maximum covers them; a brand KVM passed on is kept. */
static void cpuid_brand_string(void **state)
{
    (void)state;
    char brand[48] = "Example CPU 9000 @ 3.00GHz";
    char got[49];

    /* Leaves missing, maximum too low. */
    struct cpuid_table t = { .c.nent = 2 };
    t.e[0] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000001 };
    t.e[1] = (struct kvm_cpuid_entry2){ .function = 0x80000001, .ecx = 1 };
    cpuid_fill_brand(&t.c, brand);
    assert_int_equal(t.c.nent, 5);
    assert_int_equal(t.e[0].eax, 0x80000004);
    brand_of(&t, got);
    assert_string_equal(got, brand);

    /* Leaves present but zero, maximum already beyond them. */
    struct cpuid_table z = { .c.nent = 4 };
    z.e[0] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000008 };
    for (uint32_t i = 0; i < 3; i++)
        z.e[1 + i] = (struct kvm_cpuid_entry2){ .function = 0x80000002 + i };
    cpuid_fill_brand(&z.c, brand);
    assert_int_equal(z.c.nent, 4);
    assert_int_equal(z.e[0].eax, 0x80000008);
    brand_of(&z, got);
    assert_string_equal(got, brand);

    /* A brand from KVM stays; an empty host brand changes nothing. */
    char other[48] = "Another CPU";
    cpuid_fill_brand(&z.c, other);
    brand_of(&z, got);
    assert_string_equal(got, brand);
    struct cpuid_table e = { .c.nent = 1 };
    e.e[0] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000001 };
    char none[48] = { 0 };
    cpuid_fill_brand(&e.c, none);
    assert_int_equal(e.c.nent, 1);
    assert_int_equal(e.e[0].eax, 0x80000001);

    /* The host's own: NUL-terminated, whatever the machine. */
    char host[48];
    cpuid_host_brand(host);
    assert_true(memchr(host, 0, sizeof host) != NULL);
}

/* ---- A clock the test steps ----------------------------------------- */

struct test_clock {
    _Atomic int64_t ns;
    int64_t step_ns;                 /* added on every read: a slow guest */
};

static int64_t test_clock_now(void *ctx)
{
    struct test_clock *c = ctx;
    return atomic_fetch_add(&c->ns, c->step_ns) + c->step_ns;
}

static struct dev_clock clock_of(struct test_clock *c)
{
    return (struct dev_clock){ .now_ns = test_clock_now, .ctx = c };
}

/* ---- ACPI PM timer --------------------------------------------------- */

static uint32_t pm_timer(struct fake_host *f)
{
    uint8_t b[4];
    bus_access(&f->pio, ACPI_PM_TMR, b, 4, false);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A fake host with the PM block at its usual ports. */
static void pm_setup(struct fake_host *f, struct device *d)
{
    fake_host_init(f, MB);
    assert_int_equal(acpi_pm_create(&f->host, ACPI_PM_BASE, ACPI_S5_SLP_TYP, ACPI_RESET_VALUE, d), 0);
}

/* The device and the host, as every test here ends. */
static void teardown(struct fake_host *f, struct device *d)
{
    d->ops->destroy(d->dev);
    fake_host_destroy(f);
}

static uint16_t pm_read16(struct fake_host *f, uint16_t port)
{
    uint8_t b[2];
    bus_access(&f->pio, port, b, 2, false);
    return (uint16_t)(b[0] | b[1] << 8);
}

static void pm_write16(struct fake_host *f, uint16_t port, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    bus_access(&f->pio, port, b, 2, true);
}

/* The ACPI power button as a fixed feature: pressing it sets PWRBTN_STS
 * and, once the OS has enabled it, raises the SCI (level, IRQ 9) until the
 * OS clears the status. */
static void power_button(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    pm_setup(&f, &d);
    const uint16_t sts = ACPI_PM_BASE, en = ACPI_PM_BASE + 2;

    /* Not enabled yet: the status is set, the SCI stays down. */
    acpi_pm_power_button(d.dev);
    assert_true(pm_read16(&f, sts) & 0x0100);
    assert_false(f.irq[ACPI_PM_SCI_IRQ]);
    /* The OS enables it: the pending press raises the SCI... */
    pm_write16(&f, en, 0x0100);
    assert_true(f.irq[ACPI_PM_SCI_IRQ]);
    /* ...until it clears the status (write 1 to clear). */
    pm_write16(&f, sts, 0x0100);
    assert_false(pm_read16(&f, sts) & 0x0100);
    assert_false(f.irq[ACPI_PM_SCI_IRQ]);
    /* A second press: one more edge. */
    unsigned edges = f.irq_edges[ACPI_PM_SCI_IRQ];
    acpi_pm_power_button(d.dev);
    assert_true(f.irq[ACPI_PM_SCI_IRQ]);
    assert_int_equal(f.irq_edges[ACPI_PM_SCI_IRQ], edges + 1);
    /* Nothing stops the VM by itself: the OS decides. */
    assert_int_equal(f.stops, 0);
    teardown(&f, &d);
}

/* 3.579545 MHz from power-on, 32 bits wide, TMR_STS when bit 31 flips,
 * and a count that goes on across save and load onto another clock. */
static void pm_timer_counts(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    pm_setup(&f, &d);
    struct test_clock c = { .ns = 5 * NS_PER_SEC };
    struct dev_clock dc = clock_of(&c);
    acpi_pm_set_clock(d.dev, &dc);
    assert_int_equal(pm_timer(&f), 0);
    c.ns += NS_PER_SEC;
    assert_int_equal(pm_timer(&f), ACPI_PM_TMR_HZ);
    c.ns += NS_PER_SEC / 1000;                       /* 1 ms: 3579.545 ticks */
    assert_int_equal(pm_timer(&f), ACPI_PM_TMR_HZ + 3579);
    uint8_t hi[2];
    bus_access(&f.pio, ACPI_PM_TMR + 2, hi, 2, false);  /* the upper half alone */
    assert_int_equal(hi[0] | hi[1] << 8, (ACPI_PM_TMR_HZ + 3579) >> 16);
    assert_int_equal(pm_read16(&f, ACPI_PM1A_EVT) & 1, 0);  /* no TMR_STS yet */

    /* Past 2^31 ticks (600 s): bit 31 flipped, TMR_STS set until cleared. */
    c.ns += 600 * NS_PER_SEC;
    assert_true(pm_timer(&f) >= 0x80000000u);
    assert_int_equal(pm_read16(&f, ACPI_PM1A_EVT) & 1, 1);
    pm_write16(&f, ACPI_PM1A_EVT, 1);
    assert_int_equal(pm_read16(&f, ACPI_PM1A_EVT) & 1, 0);
    /* ...and past 2^32 (1200 s) it wraps. */
    c.ns += 600 * NS_PER_SEC;
    assert_true(pm_timer(&f) < 0x80000000u);
    assert_int_equal(pm_read16(&f, ACPI_PM1A_EVT) & 1, 1);

    /* Saved as a count, not a host time: another VM on another clock
     * continues from it. */
    uint32_t before = pm_timer(&f);
    struct state_writer w;
    state_writer_init(&w);
    d.ops->save(d.dev, &w);
    struct fake_host f2;
    fake_host_init(&f2, MB);
    struct device d2;
    assert_int_equal(acpi_pm_create(&f2.host, ACPI_PM_BASE, ACPI_S5_SLP_TYP, ACPI_RESET_VALUE, &d2), 0);
    struct test_clock c2 = { .ns = 99999 * NS_PER_SEC };
    struct dev_clock dc2 = clock_of(&c2);
    acpi_pm_set_clock(d2.dev, &dc2);
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(d2.ops->load(d2.dev, &r), 0);
    assert_int_equal(pm_timer(&f2), before);
    c2.ns += NS_PER_SEC;
    assert_int_equal(pm_timer(&f2), (uint32_t)(before + ACPI_PM_TMR_HZ));
    state_reader_init(&r, w.buf, w.len - 1);           /* truncated: refused */
    assert_int_equal(d2.ops->load(d2.dev, &r), -1);
    state_writer_free(&w);
    d2.ops->destroy(d2.dev);
    d.ops->destroy(d.dev);
    fake_host_destroy(&f2);
    fake_host_destroy(&f);
}

/* On the host's monotonic clock (the default) it moves forward. */
static void pm_timer_host_clock(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    pm_setup(&f, &d);
    uint32_t a = pm_timer(&f);
    nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
    uint32_t b = pm_timer(&f);
    assert_true(b - a > 0 && b - a < 0x80000000u);
    teardown(&f, &d);
}

/* S5 powers off; another sleep type (kvm-unit-tests' s3 writes SLP_TYP 1)
 * is refused with a message and the VM keeps running. */
static void pm_sleep_other_than_s5(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    pm_setup(&f, &d);
    pm_write16(&f, ACPI_PM1A_CNT, (1 << 10) | 0x2000);
    pm_write16(&f, ACPI_PM1A_CNT, (1 << 10) | 0x2000);  /* the message comes once */
    assert_int_equal(f.stops, 0);
    assert_int_equal(pm_read16(&f, ACPI_PM1A_CNT) & 0x2000, 0);   /* SLP_EN reads 0 */
    pm_write16(&f, ACPI_PM1A_CNT, (ACPI_S5_SLP_TYP << 10) | 0x2000);
    assert_int_equal(f.stops, 1);
    assert_int_equal(f.stop, VM_STOP_POWEROFF);
    teardown(&f, &d);
}

/* ---- FADT and DSDT ---------------------------------------------------- */

static const uint8_t *find_table(struct fake_host *f, const char *sig)
{
    const uint8_t *rsdp = guest_mem_ptr(&f->mem, ACPI_RSDP_ADDR, 36);
    uint64_t xsdt_at;
    memcpy(&xsdt_at, rsdp + 24, 8);
    const struct acpi_header *x = guest_mem_ptr(&f->mem, xsdt_at, sizeof *x);
    for (unsigned i = 0; i < (x->length - sizeof *x) / 8; i++) {
        uint64_t at;
        memcpy(&at, (const uint8_t *)(x + 1) + 8 * i, 8);
        const struct acpi_header *t = guest_mem_ptr(&f->mem, at, sizeof *t);
        if (!memcmp(t->signature, sig, 4)) {
            assert_int_equal(acpi_checksum(t, t->length), 0);
            return (const uint8_t *)t;
        }
    }
    return NULL;
}

static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* PM_TMR_BLK, PM_TMR_LEN, TMR_VAL_EXT and X_PM_TMR_BLK (ACPI 6.x, 5.2.9). */
static void fadt_describes_pm_timer(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 16 * MB);
    assert_int_equal(acpi_build(&f.mem, 1, NULL), ACPI_RSDP_ADDR);
    const uint8_t *fadt = find_table(&f, "FACP");
    assert_non_null(fadt);
    assert_int_equal(get32(fadt + 76), ACPI_PM_TMR);        /* PM_TMR_BLK */
    assert_int_equal(fadt[91], 4);                          /* PM_TMR_LEN */
    assert_int_not_equal(get32(fadt + 112) & (1u << 8), 0); /* TMR_VAL_EXT: 32 bits */
    assert_int_equal(get32(fadt + 112) & (1u << 4), 0);     /* PWR_BUTTON clear: fixed feature */
    const uint8_t *gas = fadt + 208;                        /* X_PM_TMR_BLK */
    assert_int_equal(gas[0], 1);                            /* system I/O */
    assert_int_equal(gas[1], 32);
    assert_int_equal(gas[3], 3);                            /* dword access */
    assert_int_equal(get64(gas + 4), ACPI_PM_TMR);
    const uint8_t *evt = fadt + 148;                        /* X_PM1a_EVT_BLK */
    assert_int_equal(evt[1], 32);
    assert_int_equal(evt[3], 3);
    fake_host_destroy(&f);
}

static const uint8_t *dsdt_of(struct fake_host *f, size_t *len)
{
    const uint8_t *fadt = find_table(f, "FACP");
    const struct acpi_header *d = guest_mem_ptr(&f->mem, get32(fadt + 40), sizeof *d);
    assert_memory_equal(d->signature, "DSDT", 4);
    *len = d->length - sizeof *d;
    return (const uint8_t *)(d + 1);
}

/* Where Device(name) starts and how long its body is, or NULL. */
static const uint8_t *device_body(const uint8_t *aml, size_t len, const char *name, size_t *body_len)
{
    for (size_t i = 0; i + 10 <= len; i++) {
        if (aml[i] != 0x5b || aml[i + 1] != 0x82 || memcmp(aml + i + 6, name, 4))
            continue;
        const uint8_t *p = aml + i + 2;
        assert_int_equal(p[0] >> 6, 3);                  /* the 4-byte PkgLength */
        *body_len = (size_t)((p[0] & 0x0f) | p[1] << 4 | p[2] << 12 | p[3] << 20);
        return p;
    }
    return NULL;
}

static void eisaid_bytes(const char *id, uint8_t out[5])
{
    struct aml a;
    aml_init(&a);
    aml_eisaid(&a, id);
    assert_int_equal(a.len, 5);
    memcpy(out, a.buf, 5);
    aml_free(&a);
}

/* Each device's _HID and the exact _CRS contents QEMU gives it. */
static void dsdt_has_pnp_devices(void **state)
{
    (void)state;
    static const struct {
        const char *name, *hid;
        uint8_t crs[32];
        size_t crs_len;
    } want[] = {
        { "KBD_", "PNP0303", { 0x47, 1, 0x60, 0, 0x60, 0, 1, 1, 0x47, 1, 0x64, 0, 0x64, 0, 1, 1,
                               0x22, 0x02, 0x00, 0x79, 0 }, 21 },
        { "MOU_", "PNP0F13", { 0x22, 0x00, 0x10, 0x79, 0 }, 5 },
        { "COM1", "PNP0501", { 0x47, 1, 0xf8, 3, 0xf8, 3, 1, 8, 0x22, 0x10, 0x00, 0x79, 0 }, 13 },
        { "RTC_", "PNP0B00", { 0x47, 1, 0x70, 0, 0x70, 0, 1, 2, 0x22, 0x00, 0x01, 0x79, 0 }, 13 },
    };
    for (int with_pci = 0; with_pci < 2; with_pci++) {
        struct fake_host f;
        fake_host_init(&f, 16 * MB);
        struct pci_layout pci = { 0xe0000000, { 0xc0000000, 0x20000000 }, { 1ull << 32, 1ull << 36 } };
        assert_int_equal(acpi_build(&f.mem, 2, with_pci ? &pci : NULL), ACPI_RSDP_ADDR);
        size_t len;
        const uint8_t *aml = dsdt_of(&f, &len);
        assert_null(memmem(aml, len, "_S3_", 4));         /* no S3: nothing resumes */
        assert_non_null(memmem(aml, len, "_S5_", 4));
        for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
            size_t body_len = 0;
            const uint8_t *body = device_body(aml, len, want[i].name, &body_len);
            assert_non_null(body);
            assert_true(body + body_len <= aml + len);
            uint8_t hid[5];
            eisaid_bytes(want[i].hid, hid);
            const uint8_t *h = memmem(body, body_len, "_HID", 4);
            assert_non_null(h);
            assert_memory_equal(h + 4, hid, 5);
            const uint8_t *crs = memmem(body, body_len, "_CRS", 4);
            assert_non_null(crs);
            assert_int_equal(crs[4], 0x11);                  /* Buffer */
            uint32_t size;
            memcpy(&size, crs + 10, 4);                      /* after PkgLength and DWordPrefix */
            assert_int_equal(size, want[i].crs_len);
            assert_memory_equal(crs + 14, want[i].crs, want[i].crs_len);
        }
        assert_int_equal(memmem(aml, len, "PCI0", 4) != NULL, with_pci);
        fake_host_destroy(&f);
    }
}

/* ---- i8042 ------------------------------------------------------------ */

static struct i8042 *i8042_with_irqs(struct fake_host *f, struct device *d, uint8_t ctr)
{
    fake_host_init(f, MB);
    struct i8042 *k = i8042_create(&f->host, d);
    assert_non_null(k);
    pio_out(f, 0x64, 0x60);                           /* write CTR */
    pio_out(f, 0x60, ctr);
    return k;
}

/* Every byte of a multi-byte reply raises IRQ 1 anew: Linux takes one byte
 * per interrupt, and a line that stayed high stranded the rest (the
 * keyboard's ID was never read). */
static void i8042_edge_per_byte(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    i8042_with_irqs(&f, &d, 0x45);                    /* KBDINT, SYS, XLATE */
    pio_out(&f, 0x60, 0xf2);                          /* identify */
    assert_int_equal(f.irq_edges[1], 1);
    static const uint8_t id[] = { 0xfa, 0xab, 0x41 }; /* MF2, translated */
    for (unsigned i = 0; i < 3; i++) {
        assert_true(f.irq[1]);
        assert_int_equal(pio_in(&f, 0x64) & 0x21, 0x01);   /* OBF, not aux */
        assert_int_equal(pio_in(&f, 0x60), id[i]);
        assert_int_equal(f.irq_edges[1], i < 2 ? i + 2 : 3);
    }
    assert_false(f.irq[1]);
    assert_int_equal(pio_in(&f, 0x64) & 1, 0);
    assert_int_equal(f.irq_edges[12], 0);

    /* Without translation the ID is 0xAB 0x83; LEDs take an argument
     * (each byte ACKed); set 2 is reported as such. */
    pio_out(&f, 0x64, 0x60);
    pio_out(&f, 0x60, 0x05);                          /* KBDINT, SYS */
    pio_out(&f, 0x60, 0xf2);
    assert_int_equal(pio_in(&f, 0x60), 0xfa);
    assert_int_equal(pio_in(&f, 0x60), 0xab);
    assert_int_equal(pio_in(&f, 0x60), 0x83);
    pio_out(&f, 0x60, 0xed);
    assert_int_equal(pio_in(&f, 0x60), 0xfa);
    pio_out(&f, 0x60, 0xf2);                          /* an argument, not "identify" */
    assert_int_equal(pio_in(&f, 0x60), 0xfa);
    assert_int_equal(pio_in(&f, 0x64) & 1, 0);
    pio_out(&f, 0x60, 0xf0);                          /* scancode set: which? */
    pio_out(&f, 0x60, 0x00);
    assert_int_equal(pio_in(&f, 0x60), 0xfa);
    assert_int_equal(pio_in(&f, 0x60), 0xfa);
    assert_int_equal(pio_in(&f, 0x60), 2);
    assert_int_equal(f.irq_edges[1], 3 + 3 + 2 + 3);  /* one per byte, every one */
    teardown(&f, &d);
}

/* The aux loopback (0xD3) that Linux's i8042_check_aux and MUX test use:
 * the byte comes back as aux data with IRQ 12, at once. */
static void i8042_aux_loopback(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    i8042_with_irqs(&f, &d, 0x47);                    /* KBDINT, AUXINT, SYS, XLATE */
    pio_out(&f, 0x64, 0xd3);
    pio_out(&f, 0x60, 0x5a);
    assert_int_equal(pio_in(&f, 0x64) & 0x21, 0x21);  /* OBF, from aux */
    assert_true(f.irq[12]);
    assert_false(f.irq[1]);
    assert_int_equal(pio_in(&f, 0x60), 0x5a);
    assert_false(f.irq[12]);
    assert_int_equal(f.irq_edges[12], 1);
    /* With the aux interrupt off, status only (Linux's first loop test). */
    pio_out(&f, 0x64, 0x60);
    pio_out(&f, 0x60, 0x45);
    pio_out(&f, 0x64, 0xd3);
    pio_out(&f, 0x60, 0xa5);
    assert_int_equal(pio_in(&f, 0x64) & 0x21, 0x21);
    assert_int_equal(pio_in(&f, 0x60), 0xa5);
    assert_int_equal(f.irq_edges[12], 1);
    teardown(&f, &d);
}

static void mouse_cmd(struct fake_host *f, uint8_t b)
{
    pio_out(f, 0x64, 0xd4);
    pio_out(f, 0x60, b);
}

static void expect_aux(struct fake_host *f, const uint8_t *bytes, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(pio_in(f, 0x64) & 0x21, 0x21);
        assert_int_equal(pio_in(f, 0x60), bytes[i]);
    }
    assert_int_equal(pio_in(f, 0x64) & 1, 0);
}

/* The mouse answers what psmouse asks, and refuses what it does not know
 * at once instead of letting a touchpad probe time out; its state survives
 * save and load. */
static void i8042_mouse(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    i8042_with_irqs(&f, &d, 0x47);
    mouse_cmd(&f, 0xff);
    expect_aux(&f, (const uint8_t[]){ 0xfa, 0xaa, 0x00 }, 3);
    assert_int_equal(f.irq_edges[12], 3);
    mouse_cmd(&f, 0xf2);
    expect_aux(&f, (const uint8_t[]){ 0xfa, 0x00 }, 2);
    mouse_cmd(&f, 0xf3);                              /* sample rate 40 */
    expect_aux(&f, (const uint8_t[]){ 0xfa }, 1);
    mouse_cmd(&f, 40);
    expect_aux(&f, (const uint8_t[]){ 0xfa }, 1);
    mouse_cmd(&f, 0xe8);                              /* resolution 3 */
    mouse_cmd(&f, 3);
    expect_aux(&f, (const uint8_t[]){ 0xfa, 0xfa }, 2);
    mouse_cmd(&f, 0xf4);                              /* reporting on */
    mouse_cmd(&f, 0xe9);
    expect_aux(&f, (const uint8_t[]){ 0xfa, 0xfa, 0x20, 3, 40 }, 5);
    mouse_cmd(&f, 0xeb);                              /* read data: still */
    expect_aux(&f, (const uint8_t[]){ 0xfa, 0x08, 0, 0 }, 4);
    mouse_cmd(&f, 0xe1);                              /* a TrackPoint's: no */
    expect_aux(&f, (const uint8_t[]){ 0xfe }, 1);
    assert_int_equal(f.irq_edges[1], 0);

    /* Mid-command state and a waiting reply go through save and load. */
    mouse_cmd(&f, 0xf3);
    struct state_writer w;
    state_writer_init(&w);
    d.ops->save(d.dev, &w);
    struct fake_host f2;
    struct device d2;
    fake_host_init(&f2, MB);
    assert_non_null(i8042_create(&f2.host, &d2));
    struct state_reader r;
    state_reader_init(&r, w.buf, w.len);
    assert_int_equal(d2.ops->load(d2.dev, &r), 0);
    assert_true(f2.irq[12]);
    expect_aux(&f2, (const uint8_t[]){ 0xfa }, 1);
    mouse_cmd(&f2, 0xf3);                             /* taken as the rate */
    mouse_cmd(&f2, 0xe9);
    expect_aux(&f2, (const uint8_t[]){ 0xfa, 0xfa, 0x20, 3, 0xf3 }, 5);
    state_writer_free(&w);
    d2.ops->destroy(d2.dev);
    d.ops->destroy(d.dev);
    fake_host_destroy(&f2);
    fake_host_destroy(&f);
}

/* ---- RTC -------------------------------------------------------------- */

static uint8_t cmos(struct fake_host *f, uint8_t reg)
{
    pio_out(f, 0x70, reg);
    return pio_in(f, 0x71);
}

static void cmos_set(struct fake_host *f, uint8_t reg, uint8_t v)
{
    pio_out(f, 0x70, reg);
    pio_out(f, 0x71, v);
}

/* 2024-01-01 10:20:30 UTC. */
#define T0 1704104430LL

static struct rtc *rtc_on_clock(struct fake_host *f, struct device *d, struct test_clock *c)
{
    fake_host_init(f, MB);
    struct rtc *r = rtc_create(&f->host, 64 * MB, 0, d);
    assert_non_null(r);
    struct dev_clock dc = clock_of(c);
    rtc_set_clock(r, &dc);
    return r;
}

/* UIP rises 244 us before each update; an update no read saw (the guest
 * polled too slowly) shows once, late, so loops waiting for UIP to go 1
 * then 0 (kvm-unit-tests' s3, Linux's hwclock) end. */
static void rtc_update_in_progress(void **state)
{
    (void)state;
    struct test_clock c = { .ns = T0 * NS_PER_SEC + NS_PER_SEC / 2 };
    struct fake_host f;
    struct device d;
    rtc_on_clock(&f, &d, &c);
    assert_int_equal(cmos(&f, 0x0a) & 0x80, 0);              /* mid-second */
    c.ns = (T0 + 1) * NS_PER_SEC - 100000;                   /* 100 us before */
    assert_int_equal(cmos(&f, 0x0a) & 0x80, 0x80);
    assert_int_equal(cmos(&f, 0x0a), 0xa6);                  /* the rest of A kept */
    c.ns = (T0 + 1) * NS_PER_SEC + 1000000;                  /* just after */
    assert_int_equal(cmos(&f, 0x0a) & 0x80, 0);              /* that update was seen */
    assert_int_equal(cmos(&f, 0x00), 0x31);                  /* 10:20:31, BCD */
    c.ns = (T0 + 3) * NS_PER_SEC + NS_PER_SEC / 2;           /* two updates unseen */
    assert_int_equal(cmos(&f, 0x0a) & 0x80, 0x80);
    assert_int_equal(cmos(&f, 0x0a) & 0x80, 0);
    /* SET halts updates: no UIP. */
    cmos_set(&f, 0x0b, 0x82);
    c.ns = (T0 + 4) * NS_PER_SEC - 1000;
    assert_int_equal(cmos(&f, 0x0a) & 0x80, 0);
    cmos_set(&f, 0x0b, 0x02);

    /* A guest slower than the window (700 us a read) still sees 1 then 0. */
    c.ns = (T0 + 10) * NS_PER_SEC + 1000;
    c.step_ns = 700000;
    cmos(&f, 0x0a);
    unsigned reads = 0;
    while (!(cmos(&f, 0x0a) & 0x80))
        assert_true(++reads < 5000);
    while (cmos(&f, 0x0a) & 0x80)
        assert_true(++reads < 5000);
    teardown(&f, &d);
}

/* A guest's IRQ 8, recorded where the RTC's own thread may write it. */
static _Atomic unsigned rtc_irq_edges;
static _Atomic bool rtc_irq_level;

static void record_rtc_irq(void *ctx, unsigned line, bool level)
{
    (void)ctx;
    if (line != 8)
        return;
    if (level && !atomic_exchange(&rtc_irq_level, true))
        atomic_fetch_add(&rtc_irq_edges, 1);
    if (!level)
        atomic_store(&rtc_irq_level, false);
}

/* The alarm (seconds, minutes, hours; 0xC0 and up is "any") sets AF in C
 * when its second comes, whether or not the guest looked meanwhile, and
 * with AIE raises IRQ 8 until C is read. */
static void rtc_alarm(void **state)
{
    (void)state;
    struct test_clock c = { .ns = T0 * NS_PER_SEC + 1000 };
    struct fake_host f;
    struct device d;
    fake_host_init(&f, MB);
    f.host.set_irq = record_rtc_irq;
    atomic_store(&rtc_irq_edges, 0);
    atomic_store(&rtc_irq_level, false);
    struct rtc *r = rtc_create(&f.host, 64 * MB, 0, &d);
    assert_non_null(r);
    struct dev_clock dc = clock_of(&c);
    rtc_set_clock(r, &dc);
    cmos_set(&f, 0x0b, 0x06);                         /* binary, 24 h */
    cmos(&f, 0x0c);
    cmos_set(&f, 0x01, 33);                           /* 10:20:33 */
    cmos_set(&f, 0x03, 20);
    cmos_set(&f, 0x05, 10);
    cmos_set(&f, 0x0b, 0x26);                         /* AIE */
    c.ns += 2 * NS_PER_SEC;                           /* 10:20:32 */
    assert_int_equal(cmos(&f, 0x0c), 0x10);           /* UF only, no interrupt */
    assert_int_equal(atomic_load(&rtc_irq_edges), 0);
    c.ns += 5 * NS_PER_SEC;                           /* 10:20:37: passed 33 unseen */
    assert_int_equal(cmos(&f, 0x00), 37);
    assert_true(atomic_load(&rtc_irq_level));
    assert_int_equal(atomic_load(&rtc_irq_edges), 1);
    assert_int_equal(cmos(&f, 0x0c), 0xb0);           /* IRQF, AF, UF */
    assert_false(atomic_load(&rtc_irq_level));
    assert_int_equal(cmos(&f, 0x0c), 0);
    c.ns += 30 * NS_PER_SEC;                          /* 10:21:07: no match */
    assert_int_equal(cmos(&f, 0x0c), 0x10);

    /* "Any" hour and minute at second 33: the next minute's. */
    cmos_set(&f, 0x03, 0xc0);
    cmos_set(&f, 0x05, 0xff);
    c.ns += 20 * NS_PER_SEC;                          /* 10:21:27 */
    assert_int_equal(cmos(&f, 0x0c), 0x10);
    c.ns += 10 * NS_PER_SEC;                          /* 10:21:37 */
    assert_int_equal(cmos(&f, 0x0c), 0xb0);
    assert_int_equal(atomic_load(&rtc_irq_edges), 2);

    /* An alarm an hour away in 12-hour BCD mode (11 AM = 0x11). */
    cmos_set(&f, 0x0b, 0x20);                         /* BCD, 12 h, AIE */
    cmos_set(&f, 0x01, 0x00);
    cmos_set(&f, 0x03, 0x00);
    cmos_set(&f, 0x05, 0x11);
    c.ns += 30 * 60 * NS_PER_SEC;                     /* 10:51:37 */
    assert_int_equal(cmos(&f, 0x0c) & 0x20, 0);
    c.ns += 30 * 60 * NS_PER_SEC;                     /* 11:21:37 */
    assert_int_equal(cmos(&f, 0x0c) & 0x20, 0x20);
    /* Disabled (AIE off): the flag still comes, the line does not. */
    cmos_set(&f, 0x0b, 0x02);
    cmos_set(&f, 0x01, 0xc0);
    cmos_set(&f, 0x03, 0xc0);
    cmos_set(&f, 0x05, 0xc0);
    c.ns += NS_PER_SEC;
    assert_int_equal(cmos(&f, 0x0c), 0x30);
    assert_int_equal(atomic_load(&rtc_irq_edges), 3);  /* one more, from the 11:00 alarm */
    teardown(&f, &d);
}

/* On the host's clock the guest does not have to touch the RTC: its own
 * thread raises IRQ 8 at the next second (an "any" alarm, as
 * kvm-unit-tests' s3 sets it). */
static void rtc_alarm_interrupt_unpolled(void **state)
{
    (void)state;
    struct fake_host f;
    struct device d;
    fake_host_init(&f, MB);
    f.host.set_irq = record_rtc_irq;
    atomic_store(&rtc_irq_edges, 0);
    atomic_store(&rtc_irq_level, false);
    assert_non_null(rtc_create(&f.host, 64 * MB, 0, &d));
    cmos(&f, 0x0c);
    cmos_set(&f, 0x01, 0xc0);
    cmos_set(&f, 0x03, 0xc0);
    cmos_set(&f, 0x05, 0xc0);
    cmos_set(&f, 0x0b, 0x22);                         /* AIE */
    for (unsigned i = 0; i < 300 && !atomic_load(&rtc_irq_level); i++)
        nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
    assert_true(atomic_load(&rtc_irq_level));
    assert_int_equal(cmos(&f, 0x0c) & 0xa0, 0xa0);
    d.ops->destroy(d.dev);                            /* stops the thread */
    fake_host_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cpuid_tsc_deadline),
        cmocka_unit_test(cpuid_brand_string),
        cmocka_unit_test(pm_timer_counts),
        cmocka_unit_test(pm_timer_host_clock),
        cmocka_unit_test(pm_sleep_other_than_s5),
        cmocka_unit_test(power_button),
        cmocka_unit_test(fadt_describes_pm_timer),
        cmocka_unit_test(dsdt_has_pnp_devices),
        cmocka_unit_test(i8042_edge_per_byte),
        cmocka_unit_test(i8042_aux_loopback),
        cmocka_unit_test(i8042_mouse),
        cmocka_unit_test(rtc_update_in_progress),
        cmocka_unit_test(rtc_alarm),
        cmocka_unit_test(rtc_alarm_interrupt_unpolled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
