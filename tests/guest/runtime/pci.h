/* PCI configuration space for the test guests, both ways a driver reaches
 * it: mechanism #1 (ports 0xCF8/0xCFC) and ECAM (memory-mapped, where the
 * ACPI MCFG table says). Bus 0, function 0 only: kvmbox has nothing else. */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <linux/pci_regs.h>
#include <stdbool.h>
#include <stdint.h>

/* ecam == 0: mechanism #1. */
struct pci_cfg {
    uint64_t ecam;
};

uint32_t pci_read(const struct pci_cfg *c, unsigned slot, unsigned off, unsigned len);
void pci_write(const struct pci_cfg *c, unsigned slot, unsigned off, uint32_t v, unsigned len);

/* The offset of the first capability with `id` after the one at `from`
 * (from == 0: from the start of the list); 0 if none. */
unsigned pci_find_cap(const struct pci_cfg *c, unsigned slot, uint8_t id, unsigned from);

/* Sizes BAR `bar` the standard way (all ones, read back, restore), with
 * decoding off meanwhile. Returns the size (0: no BAR); *is64 says
 * whether it is a 64-bit memory BAR. */
uint64_t pci_bar_size(const struct pci_cfg *c, unsigned slot, unsigned bar, bool *is64);
uint64_t pci_bar_addr(const struct pci_cfg *c, unsigned slot, unsigned bar);
/* Moves a memory BAR to `addr`, decoding off meanwhile. */
void pci_bar_move(const struct pci_cfg *c, unsigned slot, unsigned bar, uint64_t addr);

#endif
