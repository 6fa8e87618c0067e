/* Just enough ELF (32- and 64-bit, little-endian x86) to load PVH and
 * multiboot kernels: validated program headers, PT_LOAD copying into guest
 * memory, and note lookup. Every offset and size from the file is checked
 * against the file and against guest RAM. */
#ifndef KVMBOX_ARCH_X86_ELF_H
#define KVMBOX_ARCH_X86_ELF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct boot_ranges;

struct elf_image {
    const uint8_t *data;
    size_t size;
    bool is64;
    uint64_t entry;
    uint64_t phoff;
    unsigned phnum;
};

struct elf_segment {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

bool elf_is_elf(const uint8_t *data, size_t size);
int elf_parse(struct elf_image *img, const uint8_t *data, size_t size, char *err, size_t errlen);
void elf_segment(const struct elf_image *img, unsigned i, struct elf_segment *out);
/* Copies every PT_LOAD to its physical address (inside RAM and clear of
 * the reserved area below 1 MiB: boot_check_load), zeroes the BSS part,
 * adds each to `used`, and reports the lowest start and highest end. */
int elf_load(const struct elf_image *img, struct guest_mem *gm, struct boot_ranges *used,
             uint64_t *lo, uint64_t *hi, char *err, size_t errlen);
/* Finds a note by owner name and type in PT_NOTE segments. */
bool elf_find_note(const struct elf_image *img, const char *owner, uint32_t type,
                   const uint8_t **desc, uint32_t *descsz);

#endif
