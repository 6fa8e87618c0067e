#include "arch/x86/mptable.h"

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "core/guest_mem.h"

#include <string.h>

struct mpf {
    char signature[4];
    uint32_t config;
    uint8_t length, spec_rev, checksum, feature[5];
} __attribute__((packed));

struct mpc_header {
    char signature[4];
    uint16_t length;
    uint8_t spec_rev, checksum;
    char oem[8], product[12];
    uint32_t oem_table;
    uint16_t oem_size, count;
    uint32_t lapic;
    uint16_t ext_length;
    uint8_t ext_checksum, reserved;
} __attribute__((packed));

struct mpc_cpu {
    uint8_t type, apic_id, apic_ver, flags;
    uint32_t signature, features;
    uint32_t reserved[2];
} __attribute__((packed));

struct mpc_bus { uint8_t type, id; char name[6]; } __attribute__((packed));
struct mpc_ioapic { uint8_t type, id, ver, flags; uint32_t address; } __attribute__((packed));
struct mpc_intsrc {
    uint8_t type, irqtype;
    uint16_t flags;
    uint8_t src_bus, src_irq, dst_apic, dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mpf) == 16, "MP floating pointer layout");
_Static_assert(sizeof(struct mpc_header) == 44, "MP config header layout");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry layout");

enum { MP_CPU, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
#define MP_CPU_ENABLED 1
#define MP_CPU_BSP 2
#define LAPIC_VERSION 0x14
#define IOAPIC_VERSION 0x11
#define MP_ALL_LAPICS 0xff

int mptable_build(struct guest_mem *gm, unsigned ncpus)
{
    uint64_t cfg_at = MPTABLE_ADDR + sizeof(struct mpf);
    uint64_t size = sizeof(struct mpc_header) + ncpus * sizeof(struct mpc_cpu) +
                    sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
                    (16 + 2) * sizeof(struct mpc_intsrc);
    uint8_t *base = guest_mem_ptr(gm, cfg_at, size);
    struct mpf *mpf = guest_mem_ptr(gm, MPTABLE_ADDR, sizeof *mpf);
    if (!base || !mpf || cfg_at + size > MPTABLE_END)
        return -1;
    memset(base, 0, size);
    uint8_t *p = base + sizeof(struct mpc_header);
    uint16_t count = 0;
    for (unsigned i = 0; i < ncpus; i++, count++, p += sizeof(struct mpc_cpu)) {
        struct mpc_cpu c = { MP_CPU, (uint8_t)i, LAPIC_VERSION,
                             (uint8_t)(MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0)),
                             0x600, 0x201, { 0, 0 } };  /* family 6; FPU, APIC */
        memcpy(p, &c, sizeof c);
    }
    struct mpc_bus bus = { MP_BUS, 0, { 'I', 'S', 'A', ' ', ' ', ' ' } };
    memcpy(p, &bus, sizeof bus);
    p += sizeof bus;
    count++;
    struct mpc_ioapic io = { MP_IOAPIC, 0, IOAPIC_VERSION, 1, (uint32_t)LAYOUT_IOAPIC_BASE };
    memcpy(p, &io, sizeof io);
    p += sizeof io;
    count++;
    /* ISA IRQ n on IOAPIC pin n, as KVM routes them by default; the SCI
     * level-triggered and active high, as the MADT says. */
    for (uint8_t irq = 0; irq < 16; irq++, count++, p += sizeof(struct mpc_intsrc)) {
        uint16_t flags = irq == ACPI_SCI_IRQ ? 0x000d : 0;
        struct mpc_intsrc s = { MP_INTSRC, MP_INT, flags, 0, irq, 0, irq };
        memcpy(p, &s, sizeof s);
    }
    struct mpc_intsrc l0 = { MP_LINTSRC, MP_EXTINT, 0, 0, 0, MP_ALL_LAPICS, 0 };
    struct mpc_intsrc l1 = { MP_LINTSRC, MP_NMI, 0, 0, 0, MP_ALL_LAPICS, 1 };
    memcpy(p, &l0, sizeof l0);
    memcpy(p + sizeof l0, &l1, sizeof l1);
    count += 2;

    struct mpc_header h = {
        .signature = { 'P', 'C', 'M', 'P' }, .length = (uint16_t)size, .spec_rev = 4,
        .oem = { 'K', 'V', 'M', 'B', 'O', 'X', ' ', ' ' },
        .product = { 'K', 'V', 'M', 'B', 'O', 'X', ' ', 'V', 'M', ' ', ' ', ' ' },
        .count = count, .lapic = (uint32_t)LAYOUT_LAPIC_BASE,
    };
    memcpy(base, &h, sizeof h);
    ((struct mpc_header *)base)->checksum = (uint8_t)(0 - acpi_checksum(base, size));

    *mpf = (struct mpf){ .signature = { '_', 'M', 'P', '_' }, .config = (uint32_t)cfg_at,
                         .length = 1, .spec_rev = 4 };
    mpf->checksum = (uint8_t)(0 - acpi_checksum(mpf, sizeof *mpf));
    return 0;
}
