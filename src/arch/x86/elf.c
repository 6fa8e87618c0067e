#include "arch/x86/elf.h"

#include "arch/x86/boot.h"
#include "core/guest_mem.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

bool elf_is_elf(const uint8_t *data, size_t size)
{
    return size >= EI_NIDENT && memcmp(data, ELFMAG, SELFMAG) == 0;
}

int elf_parse(struct elf_image *img, const uint8_t *data, size_t size, char *err, size_t errlen)
{
    memset(img, 0, sizeof *img);
    img->data = data;
    img->size = size;
    if (!elf_is_elf(data, size) || data[EI_DATA] != ELFDATA2LSB) {
        snprintf(err, errlen, "not a little-endian ELF file");
        return -1;
    }
    unsigned phentsize, needed;
    if (data[EI_CLASS] == ELFCLASS64 && size >= sizeof(Elf64_Ehdr)) {
        Elf64_Ehdr eh;
        memcpy(&eh, data, sizeof eh);
        if (eh.e_machine != EM_X86_64) {
            snprintf(err, errlen, "ELF machine %u is not x86-64", eh.e_machine);
            return -1;
        }
        img->is64 = true;
        img->entry = eh.e_entry;
        img->phoff = eh.e_phoff;
        img->phnum = eh.e_phnum;
        phentsize = eh.e_phentsize;
        needed = sizeof(Elf64_Phdr);
    } else if (data[EI_CLASS] == ELFCLASS32 && size >= sizeof(Elf32_Ehdr)) {
        Elf32_Ehdr eh;
        memcpy(&eh, data, sizeof eh);
        if (eh.e_machine != EM_386 && eh.e_machine != EM_X86_64) {
            snprintf(err, errlen, "ELF machine %u is not x86", eh.e_machine);
            return -1;
        }
        img->entry = eh.e_entry;
        img->phoff = eh.e_phoff;
        img->phnum = eh.e_phnum;
        phentsize = eh.e_phentsize;
        needed = sizeof(Elf32_Phdr);
    } else {
        snprintf(err, errlen, "truncated or unknown-class ELF header");
        return -1;
    }
    if (img->phnum == 0 || phentsize != needed || img->phoff > size ||
        (uint64_t)img->phnum * phentsize > size - img->phoff) {
        snprintf(err, errlen, "ELF program headers are missing or outside the file");
        return -1;
    }
    return 0;
}

void elf_segment(const struct elf_image *img, unsigned i, struct elf_segment *out)
{
    if (img->is64) {
        Elf64_Phdr ph;
        memcpy(&ph, img->data + img->phoff + (uint64_t)i * sizeof ph, sizeof ph);
        *out = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
    } else {
        Elf32_Phdr ph;
        memcpy(&ph, img->data + img->phoff + (uint64_t)i * sizeof ph, sizeof ph);
        *out = (struct elf_segment){ ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz };
    }
}

static bool in_file(const struct elf_image *img, uint64_t off, uint64_t len)
{
    return off <= img->size && len <= img->size - off;
}

int elf_load(const struct elf_image *img, struct guest_mem *gm, struct boot_ranges *used,
             uint64_t *lo, uint64_t *hi, char *err, size_t errlen)
{
    *lo = UINT64_MAX;
    *hi = 0;
    for (unsigned i = 0; i < img->phnum; i++) {
        struct elf_segment s;
        elf_segment(img, i, &s);
        if (s.type != PT_LOAD || s.memsz == 0)
            continue;
        if (s.filesz > s.memsz || !in_file(img, s.offset, s.filesz)) {
            snprintf(err, errlen, "ELF segment %u lies outside the file", i);
            return -1;
        }
        /* The message names the segment by its addresses: formatting its
         * number up front would run printf on every boot, and printf's
         * pages would stay resident in every VMM for nothing. */
        if (boot_check_load(gm, s.paddr, s.memsz, "an ELF segment", err, errlen) < 0)
            return -1;
        uint8_t *dst = guest_mem_ptr(gm, s.paddr, s.memsz);
        memcpy(dst, img->data + s.offset, s.filesz);
        memset(dst + s.filesz, 0, s.memsz - s.filesz);
        boot_ranges_add(used, s.paddr, s.memsz);
        if (s.paddr < *lo)
            *lo = s.paddr;
        if (s.paddr + s.memsz > *hi)
            *hi = s.paddr + s.memsz;
    }
    if (*hi == 0) {
        snprintf(err, errlen, "ELF file has nothing to load");
        return -1;
    }
    return 0;
}

bool elf_find_note(const struct elf_image *img, const char *owner, uint32_t type,
                   const uint8_t **desc, uint32_t *descsz)
{
    size_t owner_len = strlen(owner) + 1;
    for (unsigned i = 0; i < img->phnum; i++) {
        struct elf_segment s;
        elf_segment(img, i, &s);
        if (s.type != PT_NOTE || !in_file(img, s.offset, s.filesz))
            continue;
        uint64_t pos = s.offset, end = s.offset + s.filesz;
        /* Notes are 4-byte aligned in both classes on x86. */
        while (end - pos >= 12) {
            uint32_t hdr[3];
            memcpy(hdr, img->data + pos, sizeof hdr);
            uint64_t namesz = hdr[0], dsz = hdr[1];
            uint64_t name_at = pos + 12;
            uint64_t desc_at = name_at + ((namesz + 3) & ~3ULL);
            uint64_t next = desc_at + ((dsz + 3) & ~3ULL);
            if (desc_at > end || next > end || next <= pos)
                break;
            if (hdr[2] == type && namesz == owner_len &&
                memcmp(img->data + name_at, owner, owner_len) == 0) {
                *desc = img->data + desc_at;
                *descsz = (uint32_t)dsz;
                return true;
            }
            pos = next;
        }
    }
    return false;
}
