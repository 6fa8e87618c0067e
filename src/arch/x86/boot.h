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
    const struct input_file *kernel;    /* read whole: data holds it */
    const struct input_file *initrds;   /* module 0, 1, ... (may be empty) */
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

/* ---- What the loaders share ---- */

/* Guest-physical ranges [start, end) that an image occupies (segments,
 * initrd, modules), so that kvmbox's boot data can avoid them. Past
 * BOOT_MAX_RANGES the last range widens to cover the new one: a superset
 * is still safe to avoid. */
#define BOOT_MAX_RANGES 32
struct boot_range {
    uint64_t start, end;
};
struct boot_ranges {
    struct boot_range r[BOOT_MAX_RANGES];
    unsigned n;
};
void boot_ranges_add(struct boot_ranges *u, uint64_t start, uint64_t len);

/* Checks that an image may occupy [addr, addr+len): inside RAM and clear of
 * the reserved area from the EBDA to 1 MiB (kvmbox's boot GDT and stack,
 * the ACPI and MP tables). `what` names the part in the message. */
int boot_check_load(const struct guest_mem *gm, uint64_t addr, uint64_t len, const char *what,
                    char *err, size_t errlen);

/* kvmbox's own boot data (the boot information structure, memory map,
 * module list, strings and command line): one zeroed block, placed where
 * the image is not, then handed out piece by piece. */
struct boot_data {
    uint64_t base, next, end;
};
/* Room a piece of `len` bytes takes in the block (pieces are 16-byte
 * aligned); a loader sums these to size its block. */
uint64_t boot_data_size(uint64_t len);
/* Places a block of `size` bytes: the lowest page at or above
 * LAYOUT_BOOT_DATA in conventional memory (below the EBDA) that overlaps
 * nothing in `used`, else the lowest such above 1 MiB in low RAM. */
int boot_data_place(struct boot_data *bd, struct guest_mem *gm, const struct boot_ranges *used,
                    uint64_t size, char *err, size_t errlen);
/* The address of the next `len` bytes of the block (sized by the caller
 * with boot_data_size, so there is room). */
uint64_t boot_data_take(struct boot_data *bd, uint64_t len);
/* Checks the command line's length: max counts the NUL, and is at most
 * LAYOUT_CMDLINE_MAX. Loaders check before they size their block. */
int boot_check_cmdline(const char *cmdline, uint64_t max, char *err, size_t errlen);
/* Checks it again and copies it into the block; *addr is where. */
int boot_put_cmdline(struct guest_mem *gm, struct boot_data *bd, const char *cmdline,
                     uint64_t max, uint64_t *addr, char *err, size_t errlen);

/* Places `size` bytes as high as possible below `limit` (and below the end
 * of low RAM) but not below `floor` nor below 1 MiB, page aligned. Returns
 * 0 and the address, or -1. */
int boot_place_high(const struct guest_mem *gm, uint64_t size, uint64_t floor, uint64_t limit,
                    uint64_t *addr);
/* Copies an initrd or module into guest RAM at addr, reading it now. */
int boot_copy_file(struct guest_mem *gm, uint64_t addr, const struct input_file *f, char *err,
                   size_t errlen);

#endif
