/* Multiboot v1 (the specification's version 0.6.96): ELF kernels, or any
 * image whose header carries the address fields ("a.out kludge"); entered
 * in flat 32-bit protected mode with EAX = 0x2BADB002 and EBX pointing at
 * the multiboot information structure. This is what kvm-unit-tests and
 * many hobby kernels use. */
#include "arch/x86/boot.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/elf.h"
#include "arch/x86/layout.h"
#include "core/config.h"
#include "core/guest_mem.h"

#include <stdio.h>
#include <string.h>

/* Header flags we honour. Bit 2 (a video mode) we cannot satisfy without a
 * framebuffer; like QEMU we boot anyway and report no video information.
 * Any other of the low 16 "must understand" bits refuses the kernel. */
#define MB_HDR_KNOWN (MB_HDR_PAGE_ALIGN | MB_HDR_MEMORY_INFO | MB_HDR_VIDEO_MODE)

long multiboot_find_header(const uint8_t *data, size_t size)
{
    size_t limit = size < MULTIBOOT_SEARCH ? size : MULTIBOOT_SEARCH;
    for (size_t off = 0; off + 12 <= limit; off += 4) {
        uint32_t w[3];
        memcpy(w, data + off, sizeof w);
        if (w[0] == MULTIBOOT_HEADER_MAGIC && (uint32_t)(w[0] + w[1] + w[2]) == 0)
            return (long)off;
    }
    return -1;
}

/* Loads an image described by the header's address fields. */
static int load_aout(struct guest_mem *gm, const struct input_file *k, size_t hdr_off,
                     const struct multiboot_header *h, struct boot_ranges *used, uint64_t *end,
                     char *err, size_t errlen)
{
    if (hdr_off + sizeof *h > k->size) {
        snprintf(err, errlen, "'%s': multiboot header is truncated", k->path);
        return -1;
    }
    if (h->load_addr > h->header_addr || h->header_addr - h->load_addr > hdr_off) {
        snprintf(err, errlen, "'%s': inconsistent multiboot load address 0x%x", k->path,
                 h->load_addr);
        return -1;
    }
    uint64_t file_off = hdr_off - (h->header_addr - h->load_addr);
    uint64_t load_len = k->size - file_off;
    if (h->load_end_addr) {
        if (h->load_end_addr < h->load_addr || h->load_end_addr - h->load_addr > load_len) {
            snprintf(err, errlen, "'%s': multiboot load_end_addr 0x%x is outside the file",
                     k->path, h->load_end_addr);
            return -1;
        }
        load_len = h->load_end_addr - h->load_addr;
    }
    uint64_t bss_end = h->load_addr + load_len;
    if (h->bss_end_addr) {
        if (h->bss_end_addr < bss_end) {
            snprintf(err, errlen, "'%s': multiboot bss_end_addr 0x%x is below the image end",
                     k->path, h->bss_end_addr);
            return -1;
        }
        bss_end = h->bss_end_addr;
    }
    if (boot_check_load(gm, h->load_addr, bss_end - h->load_addr, "the multiboot image", err,
                        errlen) < 0)
        return -1;
    guest_mem_write(gm, h->load_addr, k->data + file_off, load_len);
    guest_mem_fill(gm, h->load_addr + load_len, 0, bss_end - h->load_addr - load_len);
    boot_ranges_add(used, h->load_addr, bss_end - h->load_addr);
    *end = bss_end;
    return 0;
}

static uint64_t page_up(uint64_t a)
{
    return (a + 0xfff) & ~0xfffULL;
}

int multiboot_load(struct guest_mem *gm, const struct boot_input *in, struct boot_entry *out,
                   char *err, size_t errlen)
{
    /* Every look at the image is at the same bytes (in->kernel was read
     * once), but the header is still checked for: this is also reached
     * without kernel_detect. */
    const struct input_file *k = in->kernel;
    long hdr_off = multiboot_find_header(k->data, k->size);
    if (hdr_off < 0) {
        snprintf(err, errlen, "'%s' has no multiboot header in its first %d bytes", k->path,
                 MULTIBOOT_SEARCH);
        return -1;
    }
    struct multiboot_header h = { 0 };
    size_t avail = k->size - (size_t)hdr_off;
    memcpy(&h, k->data + hdr_off, avail < sizeof h ? avail : sizeof h);
    if (h.flags & 0xffffu & ~MB_HDR_KNOWN) {
        snprintf(err, errlen, "'%s' asks for multiboot features kvmbox lacks (flags 0x%x)",
                 k->path, h.flags);
        return -1;
    }
    /* Like QEMU, the kernel's own command line starts with its file name,
     * which kvm-unit-tests and others take as argv[0]. */
    char cmdline[LAYOUT_CMDLINE_MAX];
    int len = snprintf(cmdline, sizeof cmdline, "%s%s%s", k->path, *in->cmdline ? " " : "",
                       in->cmdline);
    if (len < 0 || (size_t)len >= sizeof cmdline) {
        snprintf(err, errlen, "command line is too long");
        return -1;
    }

    struct boot_ranges used = { .n = 0 };
    uint64_t entry, kernel_end;
    if (h.flags & MB_HDR_AOUT_KLUDGE) {
        if (load_aout(gm, k, (size_t)hdr_off, &h, &used, &kernel_end, err, errlen) < 0)
            return -1;
        entry = h.entry_addr;
    } else if (elf_is_elf(k->data, k->size)) {
        struct elf_image img;
        uint64_t lo;
        if (elf_parse(&img, k->data, k->size, err, errlen) < 0 ||
            elf_load(&img, gm, &used, &lo, &kernel_end, err, errlen) < 0)
            return -1;
        entry = img.entry;
    } else {
        snprintf(err, errlen, "'%s': multiboot image is neither ELF nor has address fields",
                 k->path);
        return -1;
    }
    if (entry >= LAYOUT_4G || !guest_mem_contains(gm, entry, 1)) {
        snprintf(err, errlen, "multiboot entry point 0x%llx is outside RAM",
                 (unsigned long long)entry);
        return -1;
    }

    /* Modules page aligned after the kernel, and above 1 MiB whatever the
     * kernel's place (a low kernel leaves no room below the BIOS area). */
    uint64_t next = page_up(kernel_end);
    if (next < LAYOUT_HIGH_START)
        next = LAYOUT_HIGH_START;
    uint64_t mod_addr[CONFIG_MAX_INITRDS];
    if (in->ninitrds > CONFIG_MAX_INITRDS) {
        snprintf(err, errlen, "too many multiboot modules (%u)", in->ninitrds);
        return -1;
    }
    uint64_t strings_len = 0;
    for (unsigned i = 0; i < in->ninitrds; i++) {
        const struct input_file *m = &in->initrds[i];
        if (next + m->size > LAYOUT_MMIO_HOLE_START || !guest_mem_contains(gm, next, m->size)) {
            snprintf(err, errlen, "memory too small for module '%s' (%zu bytes) after the kernel",
                     m->path, m->size);
            return -1;
        }
        /* Read now; a module is empty or whole, never a crash. */
        if (boot_copy_file(gm, next, m, err, errlen) < 0)
            return -1;
        boot_ranges_add(&used, next, m->size);
        mod_addr[i] = next;
        strings_len += boot_data_size(strlen(m->path) + 1);
        next = page_up(next + m->size);
    }

    /* The boot data where neither the kernel nor a module is: multiboot
     * info, memory map, module list, strings, command line. */
    static const char loader[] = "kvmbox";
    struct e820_entry map[E820_MAX];
    unsigned n = e820_build(gm->ram_size, map);
    uint64_t mmap_len = n * sizeof(struct multiboot_mmap_entry);
    uint64_t mods_len = in->ninitrds * sizeof(struct multiboot_mod);
    struct boot_data bd;
    if (boot_data_place(&bd, gm, &used, boot_data_size(sizeof(struct multiboot_info)) +
                        boot_data_size(mmap_len) + boot_data_size(mods_len) + strings_len +
                        boot_data_size(sizeof loader) + boot_data_size((size_t)len + 1),
                        err, errlen) < 0)
        return -1;
    uint64_t mbi_at = boot_data_take(&bd, sizeof(struct multiboot_info));
    uint64_t mmap_at = boot_data_take(&bd, mmap_len);
    uint64_t mods_at = boot_data_take(&bd, mods_len);
    for (unsigned i = 0; i < n; i++) {
        struct multiboot_mmap_entry e = { 20, map[i].addr, map[i].size, map[i].type };
        guest_mem_write(gm, mmap_at + i * sizeof e, &e, sizeof e);
    }
    for (unsigned i = 0; i < in->ninitrds; i++) {
        const struct input_file *m = &in->initrds[i];
        size_t slen = strlen(m->path) + 1;
        uint64_t str_at = boot_data_take(&bd, slen);
        guest_mem_write(gm, str_at, m->path, slen);
        struct multiboot_mod mod = { (uint32_t)mod_addr[i], (uint32_t)(mod_addr[i] + m->size),
                                     (uint32_t)str_at, 0 };
        guest_mem_write(gm, mods_at + i * sizeof mod, &mod, sizeof mod);
    }
    uint64_t name_at = boot_data_take(&bd, sizeof loader);
    guest_mem_write(gm, name_at, loader, sizeof loader);
    uint64_t cmdline_at;
    if (boot_put_cmdline(gm, &bd, cmdline, LAYOUT_CMDLINE_MAX, &cmdline_at, err, errlen) < 0)
        return -1;

    uint64_t low_end = guest_mem_low_end(gm);
    struct multiboot_info mbi = {
        .flags = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP |
                 MB_INFO_BOOT_LOADER_NAME,
        .mem_lower = (uint32_t)(LAYOUT_EBDA_START >> 10),
        .mem_upper = (uint32_t)((low_end - LAYOUT_HIGH_START) >> 10),
        .cmdline = (uint32_t)cmdline_at,
        .mods_count = in->ninitrds,
        .mods_addr = (uint32_t)mods_at,
        .mmap_length = (uint32_t)mmap_len,
        .mmap_addr = (uint32_t)mmap_at,
        .boot_loader_name = (uint32_t)name_at,
    };
    guest_mem_write(gm, mbi_at, &mbi, sizeof mbi);

    out->mode = ENTRY_PROTECTED32;
    out->rip = entry;
    out->rax = MULTIBOOT_BOOTLOADER_MAGIC;
    out->rbx = mbi_at;
    return 0;
}
