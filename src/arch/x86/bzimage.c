/* Linux boot protocol 2.06+, entered at the 64-bit entry point as
 * Firecracker and Cloud Hypervisor do: no real-mode setup code runs. */
#include "arch/x86/boot.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "core/guest_mem.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_INITRD_ADDR_MAX 0x37ffffffu  /* protocol < 2.03's implied limit */

/* The setup header comes from the image, but some of its fields are the
 * boot loader's to write (boot.rst marks them "write" or "modify"): an
 * image that carries values there must not have them reach the kernel as
 * if kvmbox had set them (a stale ramdisk_image would name an initrd that
 * is not there; setup_data would send the kernel walking a list in
 * whatever memory it points at). */
static void set_loader_fields(struct setup_header *h, uint64_t cmdline_at, uint64_t rd_addr,
                              uint64_t rd_size)
{
    h->vid_mode = 0xffff;  /* "normal" */
    h->type_of_loader = 0xff;
    h->ext_loader_ver = 0;
    h->ext_loader_type = 0;
    /* Keep the image's own bits (LOADED_HIGH, the kernel-internal KASLR
     * flag); ours to say: quiet, keep-segments, heap (no heap_end_ptr). */
    h->loadflags = (uint8_t)((h->loadflags & ~(LOADFLAG_QUIET | LOADFLAG_KEEP_SEGMENTS |
                                               LOADFLAG_CAN_USE_HEAP)) | LOADFLAG_LOADED_HIGH);
    h->setup_move_size = 0;
    h->heap_end_ptr = 0;
    h->code32_start = (uint32_t)LAYOUT_HIGH_START;
    h->ramdisk_image = (uint32_t)rd_addr;
    h->ramdisk_size = (uint32_t)rd_size;
    h->cmd_line_ptr = (uint32_t)cmdline_at;
    h->hardware_subarch = 0;  /* X86_SUBARCH_PC */
    h->hardware_subarch_data = 0;
    h->setup_data = 0;
}

int bzimage_load(struct guest_mem *gm, const struct boot_input *in, struct boot_entry *out,
                 char *err, size_t errlen)
{
    const uint8_t *img = in->kernel->data;
    size_t size = in->kernel->size;
    struct setup_header h;
    if (size < SETUP_HEADER_OFFSET + sizeof h) {
        snprintf(err, errlen, "'%s' is too short for a Linux bzImage", in->kernel->path);
        return -1;
    }
    memcpy(&h, img + SETUP_HEADER_OFFSET, sizeof h);

    if (h.version < 0x0206) {
        snprintf(err, errlen, "'%s' speaks Linux boot protocol %u.%02u; kvmbox needs 2.06 or later",
                 in->kernel->path, h.version >> 8, h.version & 0xff);
        return -1;
    }
    if (!(h.xloadflags & XLF_KERNEL_64)) {
        snprintf(err, errlen, "'%s' has no 64-bit entry point (XLF_KERNEL_64): "
                 "kvmbox boots 64-bit kernels only", in->kernel->path);
        return -1;
    }
    if (in->ninitrds > 1) {
        snprintf(err, errlen, "a Linux kernel takes one --initrd, not %u", in->ninitrds);
        return -1;
    }
    uint64_t cmdline_max = h.cmdline_size ? (uint64_t)h.cmdline_size + 1 : 256;
    if (boot_check_cmdline(in->cmdline, cmdline_max, err, errlen) < 0)
        return -1;
    uint64_t setup_size = (uint64_t)(h.setup_sects ? h.setup_sects : 4) * 512 + 512;
    if (setup_size >= size) {
        snprintf(err, errlen, "'%s' is truncated: no protected-mode kernel after the setup code",
                 in->kernel->path);
        return -1;
    }
    uint64_t payload = size - setup_size;
    uint64_t need = h.init_size > payload ? h.init_size : payload;
    uint64_t kernel_end = LAYOUT_HIGH_START + need;
    if (!guest_mem_contains(gm, LAYOUT_HIGH_START, need)) {
        snprintf(err, errlen, "memory too small for the kernel: it needs %llu MiB",
                 (unsigned long long)((kernel_end + (1 << 20) - 1) >> 20));
        return -1;
    }
    guest_mem_write(gm, LAYOUT_HIGH_START, img + setup_size, payload);
    struct boot_ranges used = { .n = 0 };
    boot_ranges_add(&used, LAYOUT_HIGH_START, need);

    /* An empty initrd is no initrd: Linux ignores a zero ramdisk_size. */
    const struct input_file *rd = in->ninitrds == 1 && in->initrds[0].size ? &in->initrds[0]
                                                                           : NULL;
    uint64_t rd_addr = 0;
    if (rd) {
        uint64_t limit = (uint64_t)(h.initrd_addr_max ? h.initrd_addr_max
                                                      : DEFAULT_INITRD_ADDR_MAX) + 1;
        if (boot_place_high(gm, rd->size, kernel_end, limit, &rd_addr) < 0) {
            snprintf(err, errlen, "memory too small for the initrd '%s' (%zu bytes) "
                     "above the kernel and below 0x%llx", rd->path, rd->size,
                     (unsigned long long)limit);
            return -1;
        }
        boot_ranges_add(&used, rd_addr, rd->size);
    }

    struct boot_data bd;
    uint64_t cmdline_at;
    if (boot_data_place(&bd, gm, &used, boot_data_size(sizeof(struct boot_params)) +
                        boot_data_size(strlen(in->cmdline) + 1), err, errlen) < 0)
        return -1;
    uint64_t bp_at = boot_data_take(&bd, sizeof(struct boot_params));
    if (boot_put_cmdline(gm, &bd, in->cmdline, cmdline_max, &cmdline_at, err, errlen) < 0)
        return -1;
    if (rd && boot_copy_file(gm, rd_addr, rd, err, errlen) < 0)
        return -1;

    struct boot_params *bp = guest_mem_ptr(gm, bp_at, sizeof *bp);  /* zeroed */
    /* The header runs from 0x1f1 to 0x202 + the byte at 0x201; copy what
     * the image declares, no more than we know. */
    size_t hdr_end = 0x202 + img[0x201];
    size_t hdr_len = hdr_end - SETUP_HEADER_OFFSET;
    if (hdr_len > sizeof bp->hdr)
        hdr_len = sizeof bp->hdr;
    memcpy(&bp->hdr, img + SETUP_HEADER_OFFSET, hdr_len);
    set_loader_fields(&bp->hdr, cmdline_at, rd_addr, rd ? rd->size : 0);
    bp->acpi_rsdp_addr = in->acpi_rsdp;  /* also found by the BIOS-area scan */

    struct e820_entry map[E820_MAX];
    unsigned n = e820_build(gm->ram_size, map);
    memcpy(bp->e820_table, map, n * sizeof map[0]);
    bp->e820_entries = (uint8_t)n;

    out->mode = ENTRY_LONG64;
    out->rip = LAYOUT_HIGH_START + LINUX_64BIT_ENTRY_OFFSET;
    out->rsi = bp_at;
    return 0;
}
