#include "arch/x86/boot.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/elf.h"
#include "arch/x86/layout.h"
#include "vmm/guest_mem.h"

#include <stdio.h>
#include <string.h>

enum kernel_format kernel_detect(const uint8_t *data, size_t size)
{
    if (size >= SETUP_HEADER_OFFSET + sizeof(struct setup_header)) {
        struct setup_header h;
        memcpy(&h, data + SETUP_HEADER_OFFSET, sizeof h);
        if (h.boot_flag == SETUP_BOOT_FLAG && h.header == SETUP_HDRS_MAGIC)
            return KERNEL_BZIMAGE;
    }
    if (elf_is_elf(data, size)) {
        /* PVH first: a Linux vmlinux carries the note and is best entered
         * that way even if it also had a multiboot header. */
        struct elf_image img;
        char err[128];
        const uint8_t *desc;
        uint32_t descsz;
        if (elf_parse(&img, data, size, err, sizeof err) == 0 &&
            elf_find_note(&img, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &descsz))
            return KERNEL_PVH;
    }
    if (multiboot_find_header(data, size) >= 0)
        return KERNEL_MULTIBOOT;
    return KERNEL_UNKNOWN;
}

const char *kernel_format_name(enum kernel_format f)
{
    switch (f) {
    case KERNEL_BZIMAGE: return "Linux bzImage";
    case KERNEL_PVH: return "PVH ELF";
    case KERNEL_MULTIBOOT: return "multiboot";
    default: return "unknown";
    }
}

const char *kernel_default_cmdline(enum kernel_format f)
{
    return (f == KERNEL_BZIMAGE || f == KERNEL_PVH) ? "console=ttyS0 reboot=k panic=-1" : "";
}

int boot_load(struct guest_mem *gm, enum kernel_format f, const struct boot_input *in,
              struct boot_entry *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    switch (f) {
    case KERNEL_BZIMAGE: return bzimage_load(gm, in, out, err, errlen);
    case KERNEL_PVH: return pvh_load(gm, in, out, err, errlen);
    case KERNEL_MULTIBOOT: return multiboot_load(gm, in, out, err, errlen);
    default:
        snprintf(err, errlen, "'%s' is not a known kernel format "
                 "(expected a Linux bzImage, a PVH ELF or a multiboot kernel)",
                 in->kernel->path);
        return -1;
    }
}

int boot_put_cmdline(struct guest_mem *gm, const char *cmdline, uint64_t max, char *err,
                     size_t errlen)
{
    size_t len = strlen(cmdline) + 1;
    if (max > LAYOUT_CMDLINE_MAX)
        max = LAYOUT_CMDLINE_MAX;
    if (len > max) {
        snprintf(err, errlen, "command line is %zu bytes; this kernel takes at most %llu",
                 len - 1, (unsigned long long)(max - 1));
        return -1;
    }
    if (guest_mem_write(gm, LAYOUT_CMDLINE, cmdline, len) < 0) {
        snprintf(err, errlen, "memory too small for the command line");
        return -1;
    }
    return 0;
}

int boot_place_high(const struct guest_mem *gm, uint64_t size, uint64_t floor, uint64_t limit,
                    uint64_t *addr)
{
    uint64_t top = guest_mem_low_end(gm);
    if (limit < top)
        top = limit;
    if (size > top)
        return -1;
    uint64_t a = (top - size) & ~0xfffULL;
    if (a < floor)
        return -1;
    *addr = a;
    return 0;
}
