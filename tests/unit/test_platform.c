/* The platform description without /dev/kvm: ACPI tables and the MP table
 * (checksums, lengths, one processor entry per vCPU, the \_S5 object) and
 * the ACPI PM registers that power off and reset. */
#include "fake_host.h"

#include "arch/x86/acpi.h"
#include "arch/x86/mptable.h"
#include "devices/acpi_pm.h"
#include "devices/pci/pci.h"
#include "vmm/irq.h"

#define MB (1ULL << 20)

static const struct acpi_header *table(struct fake_host *f, uint64_t addr)
{
    const struct acpi_header *h = guest_mem_ptr(&f->mem, addr, sizeof *h);
    assert_non_null(h);
    assert_non_null(guest_mem_ptr(&f->mem, addr, h->length));
    assert_int_equal(acpi_checksum(h, h->length), 0);
    return h;
}

static void acpi_tables(void **state)
{
    (void)state;
    static const unsigned counts[] = { 1, 2, 8, 64, 255 };
    for (unsigned c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        unsigned ncpus = counts[c];
        struct fake_host f;
        fake_host_init(&f, 16 * MB);
        /* Every other count without PCI: no MCFG then. */
        bool with_pci = c % 2 == 0;
        struct pci_layout pci = { 0xe0000000, { 0xc0000000, 0x20000000 }, { 1ull << 32, 1ull << 36 } };
        uint64_t rsdp_at = acpi_build(&f.mem, ncpus, with_pci ? &pci : NULL);
        assert_int_equal(rsdp_at, ACPI_RSDP_ADDR);
        const uint8_t *rsdp = guest_mem_ptr(&f.mem, rsdp_at, 36);
        assert_memory_equal(rsdp, "RSD PTR ", 8);
        assert_int_equal(acpi_checksum(rsdp, 20), 0);
        assert_int_equal(acpi_checksum(rsdp, 36), 0);
        uint64_t xsdt_at;
        memcpy(&xsdt_at, rsdp + 24, 8);
        const struct acpi_header *xsdt = table(&f, xsdt_at);
        assert_memory_equal(xsdt->signature, "XSDT", 4);
        unsigned n = (xsdt->length - sizeof *xsdt) / 8;
        assert_int_equal(n, with_pci ? 3 : 2);
        bool saw_madt = false, saw_fadt = false, saw_mcfg = false;
        for (unsigned i = 0; i < n; i++) {
            uint64_t at;
            memcpy(&at, (const uint8_t *)(xsdt + 1) + 8 * i, 8);
            const struct acpi_header *t = table(&f, at);
            if (!memcmp(t->signature, "APIC", 4)) {
                saw_madt = true;
                unsigned lapics = 0;
                const uint8_t *p = (const uint8_t *)(t + 1) + 8, *end = (const uint8_t *)t + t->length;
                while (p < end) {
                    if (p[0] == 0) {
                        assert_int_equal(p[3], lapics);   /* APIC IDs 0..n-1 */
                        lapics++;
                    }
                    assert_true(p[1] >= 2);
                    p += p[1];
                }
                assert_ptr_equal(p, end);
                assert_int_equal(lapics, ncpus);
            } else if (!memcmp(t->signature, "MCFG", 4)) {
                saw_mcfg = true;
                uint64_t base;
                memcpy(&base, (const uint8_t *)(t + 1) + 8, 8);
                assert_int_equal(base, 0xe0000000);
                assert_int_equal(t->length, sizeof *t + 8 + 16);
            } else if (!memcmp(t->signature, "FACP", 4)) {
                saw_fadt = true;
                uint32_t dsdt_at;
                memcpy(&dsdt_at, (const uint8_t *)t + 40, 4);
                const struct acpi_header *dsdt = table(&f, dsdt_at);
                assert_memory_equal(dsdt->signature, "DSDT", 4);
                const uint8_t *aml = (const uint8_t *)(dsdt + 1);
                assert_memory_equal(aml, "\x08_S5_\x12", 6);
                /* The host bridge, its windows and its routing, with PCI. */
                size_t aml_len = dsdt->length - sizeof *dsdt;
                bool pci0 = memmem(aml, aml_len, "PCI0", 4) && memmem(aml, aml_len, "_PRT", 4) &&
                            memmem(aml, aml_len, "_CRS", 4);
                assert_int_equal(pci0, with_pci);
                uint32_t pm1a_cnt;
                memcpy(&pm1a_cnt, (const uint8_t *)t + 64, 4);
                assert_int_equal(pm1a_cnt, ACPI_PM1A_CNT);
            }
        }
        assert_true(saw_madt && saw_fadt);
        assert_int_equal(saw_mcfg, with_pci);
        fake_host_destroy(&f);
    }
}

static void mp_table(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 16 * MB);
    assert_int_equal(mptable_build(&f.mem, 8), 0);
    const uint8_t *mpf = guest_mem_ptr(&f.mem, MPTABLE_ADDR, 16);
    assert_memory_equal(mpf, "_MP_", 4);
    assert_int_equal(acpi_checksum(mpf, 16), 0);
    uint32_t cfg;
    memcpy(&cfg, mpf + 4, 4);
    const uint8_t *h = guest_mem_ptr(&f.mem, cfg, 44);
    assert_memory_equal(h, "PCMP", 4);
    uint16_t len, count;
    memcpy(&len, h + 4, 2);
    memcpy(&count, h + 34, 2);
    assert_non_null(guest_mem_ptr(&f.mem, cfg, len));
    assert_int_equal(acpi_checksum(h, len), 0);
    unsigned cpus = 0, bsp = 0;
    const uint8_t *p = h + 44;
    for (unsigned i = 0; i < count; i++) {
        if (p[0] == 0) {
            cpus++;
            bsp += (p[3] & 2) != 0;
            p += 20;
        } else {
            p += 8;
        }
    }
    assert_ptr_equal(p, h + len);
    assert_int_equal(cpus, 8);
    assert_int_equal(bsp, 1);
    fake_host_destroy(&f);
}

static void tables_need_memory(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 512 * 1024);   /* no RAM at 0xe0000 */
    assert_int_equal(acpi_build(&f.mem, 1, NULL), 0);
    assert_int_equal(mptable_build(&f.mem, 1), -1);
    fake_host_destroy(&f);
}

static void pm_write16(struct fake_host *f, uint16_t port, uint16_t v)
{
    uint8_t b[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
    bus_access(&f->pio, port, b, 2, true);
}

static void pm_power_off_and_reset(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, MB);
    struct device d;
    assert_int_equal(acpi_pm_create(&f.host, ACPI_PM_BASE, ACPI_S5_SLP_TYP, ACPI_RESET_VALUE, &d), 0);
    uint8_t b[2];
    bus_access(&f.pio, ACPI_PM1A_CNT, b, 2, false);
    assert_int_equal(b[0] & 1, 1);                      /* SCI_EN: ACPI mode */
    pm_write16(&f, ACPI_PM1A_CNT, (3 << 10) | 0x2000);  /* S3: not offered */
    assert_int_equal(f.stops, 0);
    pm_write16(&f, ACPI_PM1A_CNT, ACPI_S5_SLP_TYP << 10); /* no SLP_EN yet */
    assert_int_equal(f.stops, 0);
    pm_write16(&f, ACPI_PM1A_CNT, (ACPI_S5_SLP_TYP << 10) | 0x2000);
    assert_int_equal(f.stops, 1);
    assert_int_equal(f.stop, VM_STOP_POWEROFF);
    assert_int_equal(f.stop_status, 0);
    f.stops = 0;
    pio_out(&f, ACPI_RESET_PORT, 0x02);
    assert_int_equal(f.stops, 0);
    pio_out(&f, ACPI_RESET_PORT, ACPI_RESET_VALUE);
    assert_int_equal(f.stop, VM_STOP_RESET);
    /* A read wider than its register (the reset register and the byte
     * after it) reads zeros, not what the buffer held. */
    uint8_t wide[2] = { 0xaa, 0xaa };
    bus_access(&f.pio, ACPI_RESET_PORT, wide, 2, false);
    assert_int_equal(wide[0], 0);
    assert_int_equal(wide[1], 0);
    d.ops->destroy(d.dev);
    fake_host_destroy(&f);
}

/* The legacy routes a PC has from reset: PIC and IOAPIC for GSI 0-15,
 * the IOAPIC alone for 16-23. MSI GSIs start at 24 and keep their number
 * across updates. */
static void irq_routing_table(void **state)
{
    (void)state;
    struct kvm_irq_routing_entry e[64];
    unsigned n = irq_legacy_routes(e, 64);
    assert_int_equal(n, 16 * 2 + 8);
    unsigned pic = 0, ioapic = 0;
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(e[i].type, KVM_IRQ_ROUTING_IRQCHIP);
        if (e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
            assert_int_equal(e[i].u.irqchip.pin, e[i].gsi);
            ioapic++;
        } else {
            uint32_t want = e[i].gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
            assert_int_equal(e[i].u.irqchip.irqchip, want);
            assert_int_equal(e[i].u.irqchip.pin, e[i].gsi % 8);
            assert_true(e[i].gsi < 16);
            pic++;
        }
    }
    assert_int_equal(pic, 16);
    assert_int_equal(ioapic, 24);
    assert_int_equal(irq_legacy_routes(e, 5), 5);   /* never past the end */

    static struct irq_router r;
    assert_int_equal(irq_router_init(&r, -1), 0);
    unsigned legacy = r.nroutes;
    int a = irq_msi_route(&r, -1, 0xfee00000, 0x4041);
    int b = irq_msi_route(&r, -1, 0xfee01000, 0x4042);
    assert_int_equal(a, 24);
    assert_int_equal(b, 25);
    assert_int_equal(r.nroutes, legacy + 2);
    assert_int_equal(irq_msi_route(&r, a, 0xfee02000, 0x51), a);   /* update in place */
    assert_int_equal(r.nroutes, legacy + 2);
    assert_int_equal(irq_msi_route(&r, 4, 0xfee00000, 0x51), -1);  /* legacy GSI: no */
    assert_int_equal(irq_msi_route(&r, 99, 0xfee00000, 0x51), -1); /* never given out */
    irq_msi_unroute(&r, a);
    assert_int_equal(r.nroutes, legacy + 1);
    bool found = false;
    for (unsigned i = 0; i < r.nroutes; i++)
        if (r.routes[i].gsi == (uint32_t)b) {
            found = true;
            assert_int_equal(r.routes[i].u.msi.address_lo, 0xfee01000);
            assert_int_equal(r.routes[i].u.msi.data, 0x4042);
        }
    assert_true(found);
    /* The table fills up and says so. */
    while (irq_msi_route(&r, -1, 0xfee00000, 0x30) >= 0)
        ;
    assert_int_equal(r.nroutes, IRQ_MAX_ROUTES);
    irq_router_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(acpi_tables),
        cmocka_unit_test(mp_table),
        cmocka_unit_test(tables_need_memory),
        cmocka_unit_test(pm_power_off_and_reset),
        cmocka_unit_test(irq_routing_table),
    };
    return cmocka_run_group_tests_name("platform", tests, NULL, NULL);
}
