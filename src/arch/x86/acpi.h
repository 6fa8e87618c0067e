/* ACPI tables for the guest (RSDP, RSDT, XSDT, FADT, FACS, DSDT, MADT),
 * built in the reserved BIOS area where Linux also finds them by the legacy
 * scan. The FADT describes a legacy PM1a block and the PM timer in port
 * I/O (devices/acpi_pm) so that guests power off and reset through ACPI
 * and have a fixed-rate clock to check their LAPIC timer against. */
#ifndef KVMBOX_ARCH_X86_ACPI_H
#define KVMBOX_ARCH_X86_ACPI_H

#include "devices/acpi_pm.h"

#include <stdint.h>

struct guest_mem;
struct pci_layout;

#define ACPI_RSDP_ADDR 0xe0000ULL      /* 16-byte aligned, inside the BIOS scan range */
#define ACPI_TABLES_END 0xf0000ULL
#define ACPI_PM_BASE 0x600             /* PM1a_EVT (4), PM1a_CNT (2), reset (1), PM_TMR (4) */
#define ACPI_PM1A_EVT (ACPI_PM_BASE + 0)
#define ACPI_PM1A_CNT (ACPI_PM_BASE + 4)
#define ACPI_RESET_PORT (ACPI_PM_BASE + 6)
#define ACPI_PM_TMR (ACPI_PM_BASE + 8)  /* where QEMU has it too (0x608) */
#define ACPI_RESET_VALUE 0x01
#define ACPI_SCI_IRQ ACPI_PM_SCI_IRQ  /* devices/acpi_pm.h raises it */
#define ACPI_S5_SLP_TYP 5              /* what the DSDT's \_S5 package says */

struct acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
} __attribute__((packed));

/* Writes every table for `ncpus` vCPUs (APIC IDs 0..ncpus-1) and, if pci
 * is given, the PCI host bridge (DSDT) and its ECAM window (MCFG).
 * Returns the RSDP's address, or 0 if the tables do not fit. */
uint64_t acpi_build(struct guest_mem *gm, unsigned ncpus, const struct pci_layout *pci);
/* Sum of `len` bytes, mod 256: 0 for a valid table. */
uint8_t acpi_checksum(const void *p, uint64_t len);

#endif
