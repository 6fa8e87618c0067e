/* The DSDT's body: \_S5 for power-off, the legacy devices as PNP devices
 * in \_SB (keyboard and mouse of the i8042, COM1, the RTC) and, with PCI,
 * the host bridge \_SB.PCI0 with its bus, I/O and memory windows (_CRS)
 * and the INTx routing of every slot to IOAPIC pins (_PRT). No \_S3: the
 * VMM has no suspend-to-RAM (devices/acpi_pm.c). */
#ifndef KVMBOX_ARCH_X86_DSDT_H
#define KVMBOX_ARCH_X86_DSDT_H

#include "arch/x86/aml.h"
#include "devices/pci/pci.h"

/* pci may be NULL: no PCI bus. */
void dsdt_build(struct aml *a, uint8_t s5_slp_typ, const struct pci_layout *pci);

#endif
