/* The Intel MultiProcessor Specification 1.4 table, for guests that find
 * their CPUs and interrupt routing that way rather than through ACPI. */
#ifndef KVMBOX_ARCH_X86_MPTABLE_H
#define KVMBOX_ARCH_X86_MPTABLE_H

#include <stdint.h>

struct guest_mem;

#define MPTABLE_ADDR 0xf0000ULL   /* floating pointer; the table follows */
#define MPTABLE_END 0x100000ULL

/* Writes the floating pointer and configuration table for ncpus CPUs.
 * Returns 0, or -1 if it does not fit. */
int mptable_build(struct guest_mem *gm, unsigned ncpus);

#endif
