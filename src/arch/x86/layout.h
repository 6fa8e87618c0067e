/* Where kvmbox puts things in the guest-physical address space on x86. One
 * place, so the loaders, the e820 builder and the test guests agree. */
#ifndef KVMBOX_ARCH_X86_LAYOUT_H
#define KVMBOX_ARCH_X86_LAYOUT_H

#include "core/guest_mem.h"

/* Low memory, below 1 MiB. Only the long-mode page tables have a fixed
 * place in RAM the guest may use (bzImages load at 1 MiB, so nothing
 * needs it); kvmbox's boot GDT and stack live in the reserved EBDA page,
 * which no image may load over; the rest of the boot data (boot_params,
 * hvm_start_info or multiboot info, memory map, module list, command line)
 * goes in the lowest free RAM from LAYOUT_BOOT_DATA that no segment,
 * initrd or module occupies (boot.c: boot_data_place), so that a
 * multiboot image may load low, as kvm-unit-tests' realmode does. */
#define LAYOUT_PML4           0x1000ULL   /* identity page tables: PML4, */
#define LAYOUT_PDPT           0x2000ULL   /* one PDPT, */
#define LAYOUT_PD             0x3000ULL   /* four PDs of 2 MiB pages = 4 GiB */
#define LAYOUT_BOOT_DATA      0x7000ULL   /* boot data from here, where free */
#define LAYOUT_CMDLINE_MAX    0x10000ULL
#define LAYOUT_EBDA_START     0x9fc00ULL  /* reserved from here to 1 MiB */
#define LAYOUT_GDT            0x9fc00ULL  /* boot GDT (see cpu_mode.c), 40 bytes */
#define LAYOUT_BOOT_STACK_TOP 0x9fff0ULL  /* down to the GDT: no protocol promises more */
#define LAYOUT_HIGH_START     0x100000ULL /* kernels load here */

/* The 32-bit MMIO hole: PCI BARs, IOAPIC, LAPIC. RAM skips it and continues
 * at 4 GiB, as on Cloud Hypervisor and Firecracker. */
#define LAYOUT_MMIO_HOLE_START GUEST_MEM_HOLE_START   /* core/guest_mem.h lays RAM out */
#define LAYOUT_4G              GUEST_MEM_HIGH_START
#define LAYOUT_PCI_MMIO32_BASE 0xc0000000ULL /* 32-bit BARs: 512 MiB */
#define LAYOUT_PCI_MMIO32_SIZE 0x20000000ULL
#define LAYOUT_PCI_ECAM_BASE   0xe0000000ULL /* bus 0's ECAM: 1 MiB, e820-reserved */
#define LAYOUT_PCI_ECAM_SIZE   0x00100000ULL
#define LAYOUT_PCI_MMIO64_ALIGN (1ULL << 30)  /* 64-bit BARs: above RAM, from a GiB line */
#define LAYOUT_PCI_MMIO64_SIZE (64ULL << 30)
#define LAYOUT_IOAPIC_BASE     0xfec00000ULL
#define LAYOUT_LAPIC_BASE      0xfee00000ULL

/* Addresses KVM needs for its own use on Intel (real-mode TSS and the
 * identity map for unrestricted-guest-less CPUs), inside the hole. */
#define LAYOUT_KVM_IDENTITY_MAP 0xfeffc000ULL
#define LAYOUT_KVM_TSS          0xfeffd000ULL

#define LAYOUT_MIN_RAM (2ULL << 20)

#endif
