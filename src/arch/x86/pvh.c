/* PVH: an ELF kernel with a XEN_ELFNOTE_PHYS32_ENTRY note, entered in flat
 * 32-bit protected mode with EBX pointing at a version 1 hvm_start_info. */
#include "arch/x86/boot.h"

#include "arch/x86/bootparam.h"
#include "arch/x86/e820.h"
#include "arch/x86/elf.h"
#include "arch/x86/layout.h"
#include "core/config.h"
#include "core/guest_mem.h"

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
    if (boot_check_cmdline(in->cmdline, LAYOUT_CMDLINE_MAX, err, errlen) < 0)
        return -1;
    struct boot_ranges used = { .n = 0 };
    uint64_t lo, hi;
    if (elf_load(&img, gm, &used, &lo, &hi, err, errlen) < 0)
        return -1;

    /* Modules go high, last one topmost, as a Linux initrd would. */
    uint64_t mod_addr[CONFIG_MAX_INITRDS];
    if (in->ninitrds > CONFIG_MAX_INITRDS) {
        snprintf(err, errlen, "too many modules (%u)", in->ninitrds);
        return -1;
    }
    uint64_t limit = LAYOUT_MMIO_HOLE_START;
    for (unsigned i = in->ninitrds; i-- > 0;) {
        const struct input_file *m = &in->initrds[i];
        if (boot_place_high(gm, m->size, hi, limit, &mod_addr[i]) < 0) {
            snprintf(err, errlen, "memory too small for module '%s' (%zu bytes) above the kernel",
                     m->path, m->size);
            return -1;
        }
        boot_ranges_add(&used, mod_addr[i], m->size);
        limit = mod_addr[i];
    }

    /* Then the boot data where nothing of that is: start info, memory
     * map, module list, command line. */
    struct e820_entry map[E820_MAX];
    unsigned n = e820_build(gm->ram_size, map);
    uint64_t memmap_len = n * sizeof(struct hvm_memmap_table_entry);
    uint64_t modlist_len = in->ninitrds * sizeof(struct hvm_modlist_entry);
    struct boot_data bd;
    if (boot_data_place(&bd, gm, &used, boot_data_size(sizeof(struct hvm_start_info)) +
                        boot_data_size(memmap_len) + boot_data_size(modlist_len) +
                        boot_data_size(strlen(in->cmdline) + 1), err, errlen) < 0)
        return -1;
    uint64_t si_at = boot_data_take(&bd, sizeof(struct hvm_start_info));
    uint64_t memmap_at = boot_data_take(&bd, memmap_len);
    uint64_t modlist_at = boot_data_take(&bd, modlist_len);
    uint64_t cmdline_at;
    if (boot_put_cmdline(gm, &bd, in->cmdline, LAYOUT_CMDLINE_MAX, &cmdline_at, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < n; i++) {
        struct hvm_memmap_table_entry e = { map[i].addr, map[i].size, map[i].type, 0 };
        guest_mem_write(gm, memmap_at + i * sizeof e, &e, sizeof e);
    }
    for (unsigned i = 0; i < in->ninitrds; i++) {
        const struct input_file *m = &in->initrds[i];
        if (boot_copy_file(gm, mod_addr[i], m, err, errlen) < 0)
            return -1;
        struct hvm_modlist_entry me = { mod_addr[i], m->size, 0, 0 };
        guest_mem_write(gm, modlist_at + i * sizeof me, &me, sizeof me);
    }

    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = 1,
        .nr_modules = in->ninitrds,
        .modlist_paddr = in->ninitrds ? modlist_at : 0,
        .cmdline_paddr = cmdline_at,
        .rsdp_paddr = in->acpi_rsdp,
        .memmap_paddr = memmap_at,
        .memmap_entries = n,
    };
    guest_mem_write(gm, si_at, &si, sizeof si);

    out->mode = ENTRY_PROTECTED32;
    out->rip = entry;
    out->rbx = si_at;
    return 0;
}
