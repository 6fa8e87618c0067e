/* PVH: an ELF kernel with a XEN_ELFNOTE_PHYS32_ENTRY note, entered in flat
 * 32-bit protected mode with EBX pointing at a version 1 hvm_start_info. */
#include "arch/x86/boot.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/elf.h"
#include "arch/x86/layout.h"
#include "vmm/guest_mem.h"

#include <stdio.h>
#include <string.h>

int pvh_load(struct guest_mem *gm, const struct boot_input *in, struct boot_entry *out,
             char *err, size_t errlen)
{
    struct elf_image img;
    if (elf_parse(&img, in->kernel->data, in->kernel->size, err, errlen) < 0)
        return -1;
    const uint8_t *desc;
    uint32_t descsz;
    if (!elf_find_note(&img, "Xen", XEN_ELFNOTE_PHYS32_ENTRY, &desc, &descsz) ||
        (descsz != 4 && descsz != 8)) {
        snprintf(err, errlen, "'%s' has a malformed PVH entry note", in->kernel->path);
        return -1;
    }
    uint64_t entry = 0;
    memcpy(&entry, desc, descsz);
    if (entry >= LAYOUT_4G) {
        snprintf(err, errlen, "PVH entry point 0x%llx is not a 32-bit address",
                 (unsigned long long)entry);
        return -1;
    }
    uint64_t lo, hi;
    if (elf_load(&img, gm, LAYOUT_HIGH_START, &lo, &hi, err, errlen) < 0)
        return -1;
    if (boot_put_cmdline(gm, in->cmdline, LAYOUT_CMDLINE_MAX, err, errlen) < 0)
        return -1;

    /* Memory map, then the module list, in the boot-tables area. */
    struct e820_entry map[E820_MAX];
    unsigned n = e820_build(gm->ram_size, map);
    uint64_t memmap_at = LAYOUT_BOOT_TABLES;
    for (unsigned i = 0; i < n; i++) {
        struct hvm_memmap_table_entry e = { map[i].addr, map[i].size, map[i].type, 0 };
        guest_mem_write(gm, memmap_at + i * sizeof e, &e, sizeof e);
    }
    uint64_t modlist_at = memmap_at + n * sizeof(struct hvm_memmap_table_entry);
    if (modlist_at + in->ninitrds * sizeof(struct hvm_modlist_entry) > LAYOUT_BOOT_TABLES_END) {
        snprintf(err, errlen, "too many modules (%u)", in->ninitrds);
        return -1;
    }
    /* Modules go high, last one topmost, as a Linux initrd would. */
    uint64_t limit = LAYOUT_MMIO_HOLE_START;
    for (unsigned i = in->ninitrds; i-- > 0;) {
        const struct mapped_file *m = &in->initrds[i];
        uint64_t addr;
        if (boot_place_high(gm, m->size, hi, limit, &addr) < 0) {
            snprintf(err, errlen, "memory too small for module '%s' (%zu bytes) above the kernel",
                     m->path, m->size);
            return -1;
        }
        guest_mem_write(gm, addr, m->data, m->size);
        struct hvm_modlist_entry me = { addr, m->size, 0, 0 };
        guest_mem_write(gm, modlist_at + i * sizeof me, &me, sizeof me);
        limit = addr;
    }

    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = 1,
        .nr_modules = in->ninitrds,
        .modlist_paddr = in->ninitrds ? modlist_at : 0,
        .cmdline_paddr = LAYOUT_CMDLINE,
        .rsdp_paddr = in->acpi_rsdp,
        .memmap_paddr = memmap_at,
        .memmap_entries = n,
    };
    guest_mem_fill(gm, LAYOUT_BOOT_INFO, 0, 4096);
    guest_mem_write(gm, LAYOUT_BOOT_INFO, &si, sizeof si);

    out->mode = ENTRY_PROTECTED32;
    out->rip = entry;
    out->rbx = LAYOUT_BOOT_INFO;
    return 0;
}
