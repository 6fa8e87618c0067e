/* Kernel loading: detect the boot protocol from the file, place kernel,
 * initrd/modules, command line and boot information in guest memory, and
 * say how the boot vCPU must enter it. */
#ifndef KVMBOX_ARCH_X86_BOOT_H
#define KVMBOX_ARCH_X86_BOOT_H

#include "util/file.h"

#include <stddef.h>
#include <stdint.h>

struct guest_mem;

enum kernel_format {
    KERNEL_UNKNOWN = 0,
    KERNEL_BZIMAGE,     /* Linux boot protocol, 64-bit entry */
    KERNEL_PVH,         /* ELF with XEN_ELFNOTE_PHYS32_ENTRY */
    KERNEL_MULTIBOOT,   /* multiboot v1, ELF or a.out-kludge image */
};

enum entry_mode {
    ENTRY_LONG64,       /* long mode, identity-mapped 4 GiB */
    ENTRY_PROTECTED32,  /* flat 32-bit protected mode, paging off */
};

struct boot_input {
    const struct mapped_file *kernel;
    const struct mapped_file *initrds;  /* module 0, 1, ... */
    unsigned ninitrds;
    const char *cmdline;                /* never NULL */
    uint64_t acpi_rsdp;                 /* 0: no ACPI tables */
};

/* What the loader decided; the boot vCPU's registers come from this. */
struct boot_entry {
    enum entry_mode mode;
    uint64_t rip;
    uint64_t rax, rbx, rsi;
};

enum kernel_format kernel_detect(const uint8_t *data, size_t size);
const char *kernel_format_name(enum kernel_format f);
/* The command line kvmbox passes when the user gives none. */
const char *kernel_default_cmdline(enum kernel_format f);

int boot_load(struct guest_mem *gm, enum kernel_format f, const struct boot_input *in,
              struct boot_entry *out, char *err, size_t errlen);

/* The protocol loaders (one file each), and what they share. */
int bzimage_load(struct guest_mem *gm, const struct boot_input *in, struct boot_entry *out,
                 char *err, size_t errlen);
int pvh_load(struct guest_mem *gm, const struct boot_input *in, struct boot_entry *out,
             char *err, size_t errlen);
int multiboot_load(struct guest_mem *gm, const struct boot_input *in, struct boot_entry *out,
                   char *err, size_t errlen);
/* Finds a valid multiboot header in the first 8 KiB; returns its offset
 * or -1. */
long multiboot_find_header(const uint8_t *data, size_t size);
/* Copies the NUL-terminated command line to LAYOUT_CMDLINE; max counts
 * the NUL. */
int boot_put_cmdline(struct guest_mem *gm, const char *cmdline, uint64_t max, char *err,
                     size_t errlen);
/* Places `size` bytes as high as possible below `limit` (and below the end
 * of low RAM) but not below `floor`, page aligned. Returns 0 and the
 * address, or -1. */
int boot_place_high(const struct guest_mem *gm, uint64_t size, uint64_t floor, uint64_t limit,
                    uint64_t *addr);

#endif
