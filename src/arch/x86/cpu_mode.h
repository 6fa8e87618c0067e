/* The CPU state a boot protocol starts in: a boot GDT, identity page tables
 * for long mode, and the matching segment and control registers. */
#ifndef KVMBOX_ARCH_X86_CPU_MODE_H
#define KVMBOX_ARCH_X86_CPU_MODE_H

#include "arch/x86/boot.h"

#include <linux/kvm.h>

/* Selectors in the boot GDT. Linux's 64-bit entry expects __BOOT_CS 0x10
 * and __BOOT_DS 0x18. */
#define BOOT_SEL_CODE32 0x08
#define BOOT_SEL_CODE64 0x10
#define BOOT_SEL_DATA   0x18
#define BOOT_SEL_TSS    0x20

/* Writes the GDT (and, for long mode, the page tables) into guest memory
 * and fills sregs for the mode. */
int cpu_mode_setup(struct guest_mem *gm, enum entry_mode mode, struct kvm_sregs *sregs);

#endif
