#include "arch/x86/acpi.h"

#include "arch/x86/dsdt.h"

#include "arch/x86/layout.h"
#include "core/guest_mem.h"

#include <stddef.h>
#include <string.h>

struct rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;
    uint64_t xsdt;
    uint8_t ext_checksum;
    uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct rsdp) == 36, "RSDP layout");

/* Generic address structure. */
struct gas {
    uint8_t space, bit_width, bit_offset, access_size;
    uint64_t address;
} __attribute__((packed));

struct fadt {
    struct acpi_header h;
    uint32_t firmware_ctrl, dsdt;
    uint8_t reserved0, pm_profile;
    uint16_t sci_int;
    uint32_t smi_cmd;
    uint8_t acpi_enable, acpi_disable, s4bios_req, pstate_cnt;
    uint32_t pm1a_evt, pm1b_evt, pm1a_cnt, pm1b_cnt, pm2_cnt, pm_tmr, gpe0, gpe1;
    uint8_t pm1_evt_len, pm1_cnt_len, pm2_cnt_len, pm_tmr_len, gpe0_len, gpe1_len, gpe1_base;
    uint8_t cst_cnt;
    uint16_t p_lvl2_lat, p_lvl3_lat, flush_size, flush_stride;
    uint8_t duty_offset, duty_width, day_alarm, mon_alarm, century;
    uint16_t iapc_boot_arch;
    uint8_t reserved1;
    uint32_t flags;
    struct gas reset_reg;
    uint8_t reset_value;
    uint16_t arm_boot_arch;
    uint8_t minor_version;
    uint64_t x_firmware_ctrl, x_dsdt;
    struct gas x_pm1a_evt, x_pm1b_evt, x_pm1a_cnt, x_pm1b_cnt, x_pm2_cnt, x_pm_tmr, x_gpe0, x_gpe1;
    struct gas sleep_control, sleep_status;
    uint64_t hypervisor_id;
} __attribute__((packed));
_Static_assert(sizeof(struct fadt) == 276, "FADT (revision 6) layout");
_Static_assert(offsetof(struct fadt, flags) == 112, "FADT layout");
_Static_assert(offsetof(struct fadt, x_dsdt) == 140, "FADT layout");

#define FADT_WBINVD (1u << 0)
#define FADT_PWR_BUTTON (1u << 4)   /* set: no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5)
#define FADT_TMR_VAL_EXT (1u << 8)  /* the PM timer has 32 bits, not 24 */
#define FADT_RESET_REG_SUP (1u << 10)
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)

struct facs {
    char signature[4];
    uint32_t length, hardware_signature, waking_vector, global_lock, flags;
    uint64_t x_waking_vector;
    uint8_t version, reserved[3];
    uint32_t ospm_flags;
    uint8_t reserved2[24];
} __attribute__((packed));
_Static_assert(sizeof(struct facs) == 64, "FACS layout");

#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_PCAT_COMPAT 1

struct madt_lapic { uint8_t type, length, processor_id, apic_id; uint32_t flags; } __attribute__((packed));
struct madt_ioapic { uint8_t type, length, id, reserved; uint32_t address, gsi_base; } __attribute__((packed));
struct madt_iso { uint8_t type, length, bus, source; uint32_t gsi; uint16_t flags; } __attribute__((packed));

/* MCFG: one ECAM window for segment 0, bus 0. */
struct mcfg_entry {
    uint64_t base;
    uint16_t segment;
    uint8_t bus_start, bus_end;
    uint32_t reserved;
} __attribute__((packed));

uint8_t acpi_checksum(const void *p, uint64_t len)
{
    const uint8_t *b = p;
    uint8_t sum = 0;
    for (uint64_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + b[i]);
    return sum;
}

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(h->signature, sig, 4);
    h->length = len;
    h->revision = rev;
    memcpy(h->oem_id, "KVMBOX", 6);
    memcpy(h->oem_table_id, "KVMBOXVM", 8);
    h->oem_revision = 1;
    memcpy(h->creator_id, "KVMB", 4);
    h->creator_revision = 1;
}

/* Finishes a table in guest memory: checksum over its declared length. */
static void seal(struct acpi_header *h)
{
    h->checksum = 0;
    h->checksum = (uint8_t)(0 - acpi_checksum(h, h->length));
}

/* A port I/O register of 1, 2 or 4 bytes. The access size is encoded
 * (1 byte, 2 word, 3 dword), not a count of bytes. */
static struct gas io_gas(uint16_t port, uint8_t bytes)
{
    uint8_t access = bytes == 4 ? 3 : bytes;
    return (struct gas){ 1, (uint8_t)(bytes * 8), 0, access, port };
}

uint64_t acpi_build(struct guest_mem *gm, unsigned ncpus, const struct pci_layout *pci)
{
    struct aml dsdt_aml;
    aml_init(&dsdt_aml);
    dsdt_build(&dsdt_aml, ACPI_S5_SLP_TYP, pci);
    if (dsdt_aml.failed) {
        aml_free(&dsdt_aml);
        return 0;
    }
    uint64_t ret = 0;
    uint64_t at = ACPI_RSDP_ADDR + 64;
    uint64_t facs_at = at;
    at += sizeof(struct facs);
    uint64_t dsdt_at = at;
    uint32_t dsdt_len = (uint32_t)(sizeof(struct acpi_header) + dsdt_aml.len);
    at = (at + dsdt_len + 15) & ~15ULL;
    uint64_t fadt_at = at;
    at = (at + sizeof(struct fadt) + 15) & ~15ULL;
    uint64_t madt_at = at;
    uint32_t madt_len = (uint32_t)(sizeof(struct acpi_header) + 8 +
                                   ncpus * sizeof(struct madt_lapic) + sizeof(struct madt_ioapic) +
                                   sizeof(struct madt_iso));
    at = (at + madt_len + 15) & ~15ULL;
    uint64_t mcfg_at = at;
    uint32_t mcfg_len = pci ? (uint32_t)(sizeof(struct acpi_header) + 8 + sizeof(struct mcfg_entry)) : 0;
    at = (at + mcfg_len + 15) & ~15ULL;
    unsigned ntables = pci ? 3 : 2;
    uint64_t rsdt_at = at;
    uint32_t rsdt_len = (uint32_t)sizeof(struct acpi_header) + ntables * 4;
    at = (at + rsdt_len + 15) & ~15ULL;
    uint64_t xsdt_at = at;
    uint32_t xsdt_len = (uint32_t)sizeof(struct acpi_header) + ntables * 8;
    at += xsdt_len;
    if (at > ACPI_TABLES_END || !guest_mem_ptr(gm, ACPI_RSDP_ADDR, at - ACPI_RSDP_ADDR))
        goto out;
    guest_mem_fill(gm, ACPI_RSDP_ADDR, 0, at - ACPI_RSDP_ADDR);

    struct facs *facs = guest_mem_ptr(gm, facs_at, sizeof *facs);
    memcpy(facs->signature, "FACS", 4);
    facs->length = sizeof *facs;
    facs->version = 2;

    struct acpi_header *dsdt = guest_mem_ptr(gm, dsdt_at, dsdt_len);
    header(dsdt, "DSDT", dsdt_len, 2);
    memcpy(dsdt + 1, dsdt_aml.buf, dsdt_aml.len);
    seal(dsdt);

    /* A legacy (not hardware-reduced) FADT: SMI_CMD 0 means ACPI is always
     * enabled; PM1a event and control blocks, a reset register and a PM
     * timer in port I/O; an i8042. kvmclock and the TSC serve better as
     * clocks, but Linux checks its LAPIC timer's calibration against the
     * PM timer and falls back to PIT ticks without one, which a loaded or
     * nested host fails ("APIC timer disabled due to verification
     * failure"). No HPET: with the PM timer and the TSC-deadline timer
     * nothing needs it. */
    struct fadt *f = guest_mem_ptr(gm, fadt_at, sizeof *f);
    header(&f->h, "FACP", sizeof *f, 6);
    f->firmware_ctrl = (uint32_t)facs_at;
    f->dsdt = (uint32_t)dsdt_at;
    f->sci_int = ACPI_SCI_IRQ;
    f->pm1a_evt = ACPI_PM1A_EVT;
    f->pm1a_cnt = ACPI_PM1A_CNT;
    f->pm1_evt_len = 4;
    f->pm1_cnt_len = 2;
    f->pm_tmr = ACPI_PM_TMR;
    f->pm_tmr_len = 4;
    f->p_lvl2_lat = 101;    /* > 100: no C2 */
    f->p_lvl3_lat = 1001;   /* > 1000: no C3 */
    f->century = 0x32;
    f->iapc_boot_arch = IAPC_LEGACY_DEVICES | IAPC_8042;
    /* The power button is a fixed feature (PWRBTN_STS/EN in PM1a, the SCI):
     * vm.power-button presses it. No sleep button. */
    f->flags = FADT_WBINVD | FADT_SLP_BUTTON | FADT_TMR_VAL_EXT | FADT_RESET_REG_SUP;
    f->reset_reg = io_gas(ACPI_RESET_PORT, 1);
    f->reset_value = ACPI_RESET_VALUE;
    f->minor_version = 3;
    f->x_firmware_ctrl = facs_at;
    f->x_dsdt = dsdt_at;
    f->x_pm1a_evt = io_gas(ACPI_PM1A_EVT, 4);
    f->x_pm1a_cnt = io_gas(ACPI_PM1A_CNT, 2);
    f->x_pm_tmr = io_gas(ACPI_PM_TMR, 4);
    memcpy(&f->hypervisor_id, "KVMBOX\0\0", 8);
    seal(&f->h);

    struct acpi_header *madt = guest_mem_ptr(gm, madt_at, madt_len);
    header(madt, "APIC", madt_len, 4);
    uint8_t *p = (uint8_t *)(madt + 1);
    uint32_t lapic_addr = (uint32_t)LAYOUT_LAPIC_BASE, madt_flags = MADT_PCAT_COMPAT;
    memcpy(p, &lapic_addr, 4);
    memcpy(p + 4, &madt_flags, 4);
    p += 8;
    for (unsigned i = 0; i < ncpus; i++, p += sizeof(struct madt_lapic)) {
        struct madt_lapic l = { MADT_LAPIC, sizeof l, (uint8_t)i, (uint8_t)i, 1 };
        memcpy(p, &l, sizeof l);
    }
    /* IOAPIC ID 0, as its register reads after reset; GSIs 0-23. */
    struct madt_ioapic io = { MADT_IOAPIC, sizeof io, 0, 0, (uint32_t)LAYOUT_IOAPIC_BASE, 0 };
    memcpy(p, &io, sizeof io);
    p += sizeof io;
    /* The SCI is level-triggered, active high. KVM's default routing maps
     * ISA IRQ n to GSI n, so no other override is needed. */
    struct madt_iso iso = { MADT_ISO, sizeof iso, 0, ACPI_SCI_IRQ, ACPI_SCI_IRQ, 0x000d };
    memcpy(p, &iso, sizeof iso);
    seal(madt);

    if (pci) {
        struct acpi_header *mcfg = guest_mem_ptr(gm, mcfg_at, mcfg_len);
        header(mcfg, "MCFG", mcfg_len, 1);
        struct mcfg_entry e = { pci->ecam_base, 0, 0, 0, 0 };
        memcpy((uint8_t *)(mcfg + 1) + 8, &e, sizeof e);
        seal(mcfg);
    }

    struct acpi_header *rsdt = guest_mem_ptr(gm, rsdt_at, rsdt_len);
    header(rsdt, "RSDT", rsdt_len, 1);
    uint32_t r32[3] = { (uint32_t)fadt_at, (uint32_t)madt_at, (uint32_t)mcfg_at };
    memcpy(rsdt + 1, r32, ntables * 4);
    seal(rsdt);

    struct acpi_header *xsdt = guest_mem_ptr(gm, xsdt_at, xsdt_len);
    header(xsdt, "XSDT", xsdt_len, 1);
    uint64_t x64[3] = { fadt_at, madt_at, mcfg_at };
    memcpy(xsdt + 1, x64, ntables * 8);
    seal(xsdt);

    struct rsdp *r = guest_mem_ptr(gm, ACPI_RSDP_ADDR, sizeof *r);
    memcpy(r->signature, "RSD PTR ", 8);
    memcpy(r->oem_id, "KVMBOX", 6);
    r->revision = 2;
    r->rsdt = (uint32_t)rsdt_at;
    r->length = sizeof *r;
    r->xsdt = xsdt_at;
    r->checksum = (uint8_t)(0 - acpi_checksum(r, 20));
    r->ext_checksum = (uint8_t)(0 - acpi_checksum(r, sizeof *r));
    ret = ACPI_RSDP_ADDR;
out:
    aml_free(&dsdt_aml);
    return ret;
}
