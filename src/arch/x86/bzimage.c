/* Linux boot protocol 2.06+, entered at the 64-bit entry point as
 * Firecracker and Cloud Hypervisor do: no real-mode setup code runs. */
#include "arch/x86/boot.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "vmm/guest_mem.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_INITRD_ADDR_MAX 0x37ffffffu  /* protocol < 2.03's implied limit */

int bzimage_load(struct guest_mem *gm, const struct boot_input *in, struct boot_entry *out,
                 char *err, size_t errlen)
{
    const uint8_t *img = in->kernel->data;
    size_t size = in->kernel->size;
    struct setup_header h;
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

    struct boot_params *bp = guest_mem_ptr(gm, LAYOUT_BOOT_INFO, sizeof *bp);
    memset(bp, 0, sizeof *bp);
    /* The header runs from 0x1f1 to 0x202 + the byte at 0x201; copy what
     * the image declares, no more than we know. */
    size_t hdr_end = 0x202 + img[0x201];
    size_t hdr_len = hdr_end - SETUP_HEADER_OFFSET;
    if (hdr_len > sizeof bp->hdr)
        hdr_len = sizeof bp->hdr;
    memcpy(&bp->hdr, img + SETUP_HEADER_OFFSET, hdr_len);

    bp->acpi_rsdp_addr = in->acpi_rsdp;  /* also found by the BIOS-area scan */
    bp->hdr.type_of_loader = 0xff;
    bp->hdr.loadflags |= LOADFLAG_LOADED_HIGH;
    bp->hdr.vid_mode = 0xffff;  /* "normal" */
    bp->hdr.code32_start = (uint32_t)LAYOUT_HIGH_START;
    bp->hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
    bp->ext_cmd_line_ptr = 0;
    if (boot_put_cmdline(gm, in->cmdline, h.cmdline_size ? (uint64_t)h.cmdline_size + 1 : 256,
                         err, errlen) < 0)
        return -1;

    if (in->ninitrds == 1) {
        const struct mapped_file *rd = &in->initrds[0];
        uint64_t limit = (uint64_t)(h.initrd_addr_max ? h.initrd_addr_max
                                                      : DEFAULT_INITRD_ADDR_MAX) + 1;
        uint64_t addr;
        if (boot_place_high(gm, rd->size, kernel_end, limit, &addr) < 0) {
            snprintf(err, errlen, "memory too small for the initrd '%s' (%zu bytes) "
                     "above the kernel and below 0x%llx", rd->path, rd->size,
                     (unsigned long long)limit);
            return -1;
        }
        guest_mem_write(gm, addr, rd->data, rd->size);
        bp->hdr.ramdisk_image = (uint32_t)addr;
        bp->hdr.ramdisk_size = (uint32_t)rd->size;
    }

    struct e820_entry map[E820_MAX];
    unsigned n = e820_build(gm->ram_size, map);
    memcpy(bp->e820_table, map, n * sizeof map[0]);
    bp->e820_entries = (uint8_t)n;

    out->mode = ENTRY_LONG64;
    out->rip = LAYOUT_HIGH_START + LINUX_64BIT_ENTRY_OFFSET;
    out->rsi = LAYOUT_BOOT_INFO;
    return 0;
}
