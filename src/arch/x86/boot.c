#include "arch/x86/boot.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/elf.h"
#include "arch/x86/layout.h"
#include "core/guest_mem.h"

#include <assert.h>
#include <stdbool.h>
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

void boot_ranges_add(struct boot_ranges *u, uint64_t start, uint64_t len)
{
    uint64_t end = len > UINT64_MAX - start ? UINT64_MAX : start + len;
    if (u->n < BOOT_MAX_RANGES) {
        u->r[u->n++] = (struct boot_range){ start, end };
        return;
    }
    struct boot_range *last = &u->r[BOOT_MAX_RANGES - 1];
    if (start < last->start)
        last->start = start;
    if (end > last->end)
        last->end = end;
}

int boot_check_load(const struct guest_mem *gm, uint64_t addr, uint64_t len, const char *what,
                    char *err, size_t errlen)
{
    bool wraps = len > UINT64_MAX - addr;
    if (!wraps && addr < LAYOUT_HIGH_START && addr + len > LAYOUT_EBDA_START) {
        snprintf(err, errlen, "%s (0x%llx-0x%llx) overlaps the reserved area 0x%llx-0x%llx "
                 "(kvmbox's boot GDT and stack, the ACPI and MP tables)", what,
                 (unsigned long long)addr, (unsigned long long)(addr + len),
                 (unsigned long long)LAYOUT_EBDA_START, (unsigned long long)LAYOUT_HIGH_START);
        return -1;
    }
    if (wraps || !guest_mem_contains(gm, addr, len)) {
        snprintf(err, errlen, "memory too small for the kernel: %s needs 0x%llx bytes at 0x%llx",
                 what, (unsigned long long)len, (unsigned long long)addr);
        return -1;
    }
    return 0;
}

uint64_t boot_data_size(uint64_t len)
{
    return (len + 15) & ~15ULL;
}

static bool overlaps_any(const struct boot_ranges *u, uint64_t start, uint64_t end)
{
    for (unsigned i = 0; i < u->n; i++)
        if (start < u->r[i].end && u->r[i].start < end)
            return true;
    return false;
}

/* The lowest page-aligned spot for `size` bytes in [lo, hi) clear of
 * `used`: it is either `lo` or just after some used range. */
static bool find_free(const struct guest_mem *gm, const struct boot_ranges *used, uint64_t size,
                      uint64_t lo, uint64_t hi, uint64_t *addr)
{
    uint64_t best = UINT64_MAX;
    for (unsigned i = 0; i <= used->n; i++) {
        uint64_t c = lo;
        if (i < used->n) {
            if (used->r[i].end > UINT64_MAX - 0xfff)
                continue;
            c = (used->r[i].end + 0xfff) & ~0xfffULL;
        }
        if (c < lo || c >= best || c > hi || size > hi - c)
            continue;
        if (!overlaps_any(used, c, c + size) && guest_mem_contains(gm, c, size))
            best = c;
    }
    *addr = best;
    return best != UINT64_MAX;
}

int boot_data_place(struct boot_data *bd, struct guest_mem *gm, const struct boot_ranges *used,
                    uint64_t size, char *err, size_t errlen)
{
    uint64_t at;
    uint64_t high_end = guest_mem_low_end(gm);
    if (high_end > LAYOUT_MMIO_HOLE_START)
        high_end = LAYOUT_MMIO_HOLE_START;
    if (!find_free(gm, used, size, LAYOUT_BOOT_DATA, LAYOUT_EBDA_START, &at) &&
        !find_free(gm, used, size, LAYOUT_HIGH_START, high_end, &at)) {
        snprintf(err, errlen, "memory too small for the boot information (%llu bytes) "
                 "beside the kernel and its modules", (unsigned long long)size);
        return -1;
    }
    guest_mem_fill(gm, at, 0, size);
    *bd = (struct boot_data){ at, at, at + size };
    return 0;
}

uint64_t boot_data_take(struct boot_data *bd, uint64_t len)
{
    uint64_t at = bd->next;
    bd->next += boot_data_size(len);
    /* The loaders size the block with boot_data_size over the same
     * pieces; running past it is a bug in kvmbox, not bad input. */
    assert(bd->next <= bd->end);
    return at;
}

int boot_check_cmdline(const char *cmdline, uint64_t max, char *err, size_t errlen)
{
    size_t len = strlen(cmdline) + 1;
    if (max > LAYOUT_CMDLINE_MAX)
        max = LAYOUT_CMDLINE_MAX;
    if (len > max) {
        snprintf(err, errlen, "command line is %zu bytes; this kernel takes at most %llu",
                 len - 1, (unsigned long long)(max - 1));
        return -1;
    }
    return 0;
}

int boot_put_cmdline(struct guest_mem *gm, struct boot_data *bd, const char *cmdline,
                     uint64_t max, uint64_t *addr, char *err, size_t errlen)
{
    if (boot_check_cmdline(cmdline, max, err, errlen) < 0)
        return -1;
    size_t len = strlen(cmdline) + 1;
    *addr = boot_data_take(bd, len);
    guest_mem_write(gm, *addr, cmdline, len);
    return 0;
}

int boot_place_high(const struct guest_mem *gm, uint64_t size, uint64_t floor, uint64_t limit,
                    uint64_t *addr)
{
    uint64_t top = guest_mem_low_end(gm);
    if (limit < top)
        top = limit;
    if (floor < LAYOUT_HIGH_START)
        floor = LAYOUT_HIGH_START;  /* never into the EBDA, ACPI or boot data */
    if (size > top)
        return -1;
    uint64_t a = (top - size) & ~0xfffULL;
    if (a < floor)
        return -1;
    *addr = a;
    return 0;
}

int boot_copy_file(struct guest_mem *gm, uint64_t addr, const struct input_file *f, char *err,
                   size_t errlen)
{
    void *dst = guest_mem_ptr(gm, addr, f->size);
    if (!dst) {
        snprintf(err, errlen, "memory too small for '%s' (%zu bytes)", f->path, f->size);
        return -1;
    }
    return input_copy(f, dst, err, errlen);
}
