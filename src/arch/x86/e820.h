/* The guest's physical memory map, built once from the RAM layout and
 * handed to every boot protocol in its own format. */
#ifndef KVMBOX_ARCH_X86_E820_H
#define KVMBOX_ARCH_X86_E820_H

#include "arch/x86/bootparam.h"

#define E820_MAX 8

/* Fills out[] (at least E820_MAX entries) for a guest with ram_size bytes:
 * low RAM, the reserved EBDA/VGA/BIOS area, RAM from 1 MiB up to the MMIO
 * hole, the reserved IOAPIC/LAPIC/firmware area below 4 GiB, and RAM above
 * 4 GiB. Returns the number of entries. */
unsigned e820_build(uint64_t ram_size, struct e820_entry *out);

#endif
