/* Boot protocols without /dev/kvm: format detection, what each loader
 * writes into guest memory (boot_params, hvm_start_info, multiboot info,
 * the e820 map), the CPU mode set-up, and the refusal of malformed or
 * oversized images. */
#include "fake_host.h"

#include "arch/x86/boot.h"
#include "arch/x86/bootparam.h"
#include "arch/x86/cpu_mode.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#include <elf.h>
#include <stdlib.h>

#define MB (1ULL << 20)

static uint8_t image[64 * 1024];

/* An input file held in memory, as the loaders get the kernel. */
static struct input_file mem_file(const char *path, const void *data, size_t size)
{
    return (struct input_file){ .path = path, .data = data, .size = size, .fd = -1 };
}

static struct input_file file_of(size_t size)
{
    return mem_file("test-image", image, size);
}

static size_t make_bzimage(uint16_t version, uint16_t xlf, uint32_t init_size, uint32_t cmdline_size)
{
    memset(image, 0, sizeof image);
    struct setup_header h = {
        .setup_sects = 1, .boot_flag = SETUP_BOOT_FLAG, .jump = 0x6aeb,
        .header = SETUP_HDRS_MAGIC, .version = version, .xloadflags = xlf,
        .init_size = init_size, .cmdline_size = cmdline_size, .initrd_addr_max = 0x7fffffff,
    };
    memcpy(image + SETUP_HEADER_OFFSET, &h, sizeof h);
    for (unsigned i = 0; i < 4096; i++)
        image[1024 + i] = (uint8_t)i;
    return 1024 + 4096;
}

/* ELF64: one PT_LOAD (0x100 bytes at 1 MiB, memsz 0x2000) and a PT_NOTE
 * with the PVH entry. */
static size_t make_pvh(uint64_t paddr, uint64_t filesz, uint64_t memsz, uint64_t load_off)
{
    memset(image, 0, sizeof image);
    Elf64_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                      .e_entry = 0xdead, .e_phoff = sizeof eh, .e_ehsize = sizeof eh,
                      .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    Elf64_Phdr ph[2] = {
        { .p_type = PT_LOAD, .p_offset = load_off, .p_paddr = paddr, .p_filesz = filesz,
          .p_memsz = memsz },
        { .p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20 },
    };
    memcpy(image, &eh, sizeof eh);
    memcpy(image + sizeof eh, ph, sizeof ph);
    uint32_t note[5] = { 4, 4, XEN_ELFNOTE_PHYS32_ENTRY, 0, 0x100040 };
    memcpy(&note[3], "Xen", 4);
    memcpy(image + 0x800, note, sizeof note);
    memset(image + 0x1000, 0xab, 0x100);
    return 0x1100;
}

/* An "a.out kludge" image: the header's address fields say where it goes. */
static size_t make_multiboot_aout_at(uint32_t base, uint32_t flags, uint32_t load_end,
                                     uint32_t bss_end)
{
    memset(image, 0, sizeof image);
    struct multiboot_header h = {
        .magic = MULTIBOOT_HEADER_MAGIC, .flags = flags | MB_HDR_AOUT_KLUDGE,
        .header_addr = base, .load_addr = base, .load_end_addr = load_end,
        .bss_end_addr = bss_end, .entry_addr = base + 0x20,
    };
    h.checksum = -(h.magic + h.flags);
    memcpy(image, &h, sizeof h);
    memset(image + sizeof h, 0xcd, 0x1000 - sizeof h);
    return 0x1000;
}

static size_t make_multiboot_aout(uint32_t flags, uint32_t load_end, uint32_t bss_end)
{
    return make_multiboot_aout_at(0x100000, flags, load_end, bss_end);
}

/* A multiboot ELF32 (as QEMU wants it): one PT_LOAD of `filesz` bytes of
 * 0x5a at `paddr`, zeroed up to `memsz`, entered at its start. */
static size_t make_multiboot_elf(uint32_t paddr, uint32_t filesz, uint32_t memsz)
{
    memset(image, 0, sizeof image);
    Elf32_Ehdr eh = { .e_type = ET_EXEC, .e_machine = EM_386, .e_version = EV_CURRENT,
                      .e_entry = paddr, .e_phoff = sizeof eh, .e_ehsize = sizeof eh,
                      .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = 1 };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS32;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    Elf32_Phdr ph = { .p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = paddr, .p_vaddr = paddr,
                      .p_filesz = filesz, .p_memsz = memsz };
    struct multiboot_header h = { .magic = MULTIBOOT_HEADER_MAGIC,
                                  .flags = MB_HDR_PAGE_ALIGN | MB_HDR_MEMORY_INFO };
    h.checksum = -(h.magic + h.flags);
    memcpy(image, &eh, sizeof eh);
    memcpy(image + sizeof eh, &ph, sizeof ph);
    memcpy(image + 0x80, &h, sizeof h);
    assert_true(0x1000 + filesz <= sizeof image);
    memset(image + 0x1000, 0x5a, filesz);
    return 0x1000 + filesz;
}

static void detection(void **state)
{
    (void)state;
    assert_int_equal(kernel_detect(image, make_bzimage(0x020f, XLF_KERNEL_64, 0, 2047)),
                     KERNEL_BZIMAGE);
    assert_int_equal(kernel_detect(image, make_pvh(MB, 0x100, 0x2000, 0x1000)), KERNEL_PVH);
    assert_int_equal(kernel_detect(image, make_multiboot_aout(0, 0, 0)), KERNEL_MULTIBOOT);
    /* A broken checksum is no header. */
    image[8] ^= 1;
    assert_int_equal(kernel_detect(image, 0x1000), KERNEL_UNKNOWN);
    memset(image, 0x90, sizeof image);
    assert_int_equal(kernel_detect(image, sizeof image), KERNEL_UNKNOWN);
    assert_int_equal(kernel_detect(image, 0), KERNEL_UNKNOWN);
    /* A multiboot header past 8 KiB does not count. */
    make_multiboot_aout(0, 0, 0);
    memmove(image + 8192, image, 32);
    memset(image, 0, 8192);
    assert_int_equal(kernel_detect(image, 0x3000), KERNEL_UNKNOWN);
}

static void e820_layouts(void **state)
{
    (void)state;
    struct e820_entry m[E820_MAX];
    unsigned n = e820_build(512 * MB, m);
    assert_int_equal(n, 5);
    assert_int_equal(m[0].addr, 0);
    assert_int_equal(m[0].size, LAYOUT_EBDA_START);
    assert_int_equal(m[0].type, E820_RAM);
    assert_int_equal(m[1].type, E820_RESERVED);
    assert_int_equal(m[2].addr, MB);
    assert_int_equal(m[2].addr + m[2].size, 512 * MB);
    assert_int_equal(m[3].addr, LAYOUT_PCI_ECAM_BASE);       /* MCFG's window */
    assert_int_equal(m[3].type, E820_RESERVED);
    assert_int_equal(m[4].addr, LAYOUT_IOAPIC_BASE);
    assert_int_equal(m[4].addr + m[4].size, LAYOUT_4G);
    n = e820_build(64ULL << 30, m);
    assert_int_equal(n, 6);
    assert_int_equal(m[2].addr + m[2].size, LAYOUT_MMIO_HOLE_START);
    assert_int_equal(m[5].addr, LAYOUT_4G);
    assert_int_equal(m[5].size, (64ULL << 30) - LAYOUT_MMIO_HOLE_START);
    uint64_t ram = 0;
    for (unsigned i = 0; i < n; i++) {
        if (m[i].type == E820_RAM)
            ram += m[i].size;
        if (i)
            assert_true(m[i].addr >= m[i - 1].addr + m[i - 1].size);
    }
    assert_int_equal(ram, (64ULL << 30) - (MB - LAYOUT_EBDA_START));
}

static void bzimage_boot_params(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 64 * MB);
    struct input_file k = file_of(make_bzimage(0x020f, XLF_KERNEL_64, 0x10000, 2047));
    static uint8_t rd_data[10000];
    memset(rd_data, 0x77, sizeof rd_data);
    struct input_file rd = mem_file("rd", rd_data, sizeof rd_data);
    struct boot_input in = { &k, &rd, 1, "console=ttyS0 hello", 0xe0000 };
    struct boot_entry e;
    char err[256];
    assert_int_equal(boot_load(&f.mem, KERNEL_BZIMAGE, &in, &e, err, sizeof err), 0);
    assert_int_equal(e.mode, ENTRY_LONG64);
    assert_int_equal(e.rip, MB + 0x200);
    const struct boot_params *bp = guest_mem_ptr(&f.mem, e.rsi, sizeof *bp);
    assert_non_null(bp);
    assert_int_equal(bp->hdr.header, SETUP_HDRS_MAGIC);
    assert_int_equal(bp->hdr.type_of_loader, 0xff);
    assert_int_equal(bp->acpi_rsdp_addr, 0xe0000);
    assert_true(bp->hdr.loadflags & LOADFLAG_LOADED_HIGH);
    assert_string_equal(guest_mem_ptr(&f.mem, bp->hdr.cmd_line_ptr, 1), "console=ttyS0 hello");
    /* Boot data below the EBDA, clear of the page tables. */
    assert_true(e.rsi >= LAYOUT_BOOT_DATA && e.rsi + 4096 <= LAYOUT_EBDA_START);
    assert_true(bp->hdr.cmd_line_ptr >= e.rsi + 4096);
    assert_int_equal(bp->e820_entries, 5);
    assert_int_equal(bp->e820_table[2].addr, MB);
    /* The initrd: page aligned, inside RAM, above the kernel, bytes intact. */
    assert_int_equal(bp->hdr.ramdisk_size, sizeof rd_data);
    assert_int_equal(bp->hdr.ramdisk_image & 0xfff, 0);
    assert_true(bp->hdr.ramdisk_image >= MB + 0x10000);
    assert_true(bp->hdr.ramdisk_image + sizeof rd_data <= 64 * MB);
    assert_memory_equal(guest_mem_ptr(&f.mem, bp->hdr.ramdisk_image, sizeof rd_data), rd_data,
                        sizeof rd_data);
    /* The protected-mode payload sits at 1 MiB. */
    assert_memory_equal(guest_mem_ptr(&f.mem, MB, 4096), image + 1024, 4096);
    fake_host_destroy(&f);
}

static void bzimage_refusals(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 8 * MB);
    char err[256];
    struct boot_entry e;
    struct input_file k;
    struct boot_input in = { &k, NULL, 0, "", 0 };

    k = file_of(make_bzimage(0x0205, XLF_KERNEL_64, 0, 2047));
    assert_int_equal(bzimage_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "2.06"));

    k = file_of(make_bzimage(0x020f, 0, 0, 2047));
    assert_int_equal(bzimage_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "XLF_KERNEL_64"));

    k = file_of(make_bzimage(0x020f, XLF_KERNEL_64, 64 * MB, 2047));
    assert_int_equal(bzimage_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "memory too small"));

    k = file_of(make_bzimage(0x020f, XLF_KERNEL_64, 0, 8));
    in.cmdline = "this is longer than eight bytes";
    assert_int_equal(bzimage_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "command line"));
    in.cmdline = "";

    k = file_of(make_bzimage(0x020f, XLF_KERNEL_64, 0, 2047));
    image[SETUP_HEADER_OFFSET] = 200;  /* setup_sects beyond the file */
    assert_int_equal(bzimage_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));

    k = file_of(make_bzimage(0x020f, XLF_KERNEL_64, 0, 2047));
    static uint8_t big[9 << 20];
    struct input_file rd = mem_file("big", big, sizeof big);
    in.initrds = &rd;
    in.ninitrds = 1;
    assert_int_equal(bzimage_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "initrd"));
    fake_host_destroy(&f);
}

static void pvh_start_info(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 32 * MB);
    struct input_file k = file_of(make_pvh(MB, 0x100, 0x2000, 0x1000));
    /* Dirty the BSS area first: the loader must zero it. */
    guest_mem_fill(&f.mem, MB, 0xee, 0x2000);
    uint8_t m0[100], m1[5000];
    memset(m0, 1, sizeof m0);
    memset(m1, 2, sizeof m1);
    struct input_file mods[2] = { mem_file("m0", m0, sizeof m0), mem_file("m1", m1, sizeof m1) };
    struct boot_input in = { &k, mods, 2, "pvh cmdline", 0xe0000 };
    struct boot_entry e;
    char err[256];
    assert_int_equal(boot_load(&f.mem, KERNEL_PVH, &in, &e, err, sizeof err), 0);
    assert_int_equal(e.mode, ENTRY_PROTECTED32);
    assert_int_equal(e.rip, 0x100040);
    const struct hvm_start_info *si = guest_mem_ptr(&f.mem, e.rbx, sizeof *si);
    assert_non_null(si);
    assert_int_equal(si->magic, HVM_START_MAGIC);
    assert_int_equal(si->version, 1);
    assert_int_equal(si->rsdp_paddr, 0xe0000);
    assert_string_equal(guest_mem_ptr(&f.mem, si->cmdline_paddr, 1), "pvh cmdline");
    assert_int_equal(si->memmap_entries, 5);
    const struct hvm_memmap_table_entry *mm =
        guest_mem_ptr(&f.mem, si->memmap_paddr, 4 * sizeof *mm);
    assert_int_equal(mm[2].addr, MB);
    assert_int_equal(mm[2].size, 31 * MB);
    assert_int_equal(si->nr_modules, 2);
    const struct hvm_modlist_entry *ml = guest_mem_ptr(&f.mem, si->modlist_paddr, 2 * sizeof *ml);
    assert_int_equal(ml[0].size, sizeof m0);
    assert_memory_equal(guest_mem_ptr(&f.mem, ml[0].paddr, sizeof m0), m0, sizeof m0);
    assert_memory_equal(guest_mem_ptr(&f.mem, ml[1].paddr, sizeof m1), m1, sizeof m1);
    assert_true(ml[0].paddr + sizeof m0 <= ml[1].paddr);  /* in order, no overlap */
    assert_true(ml[0].paddr >= MB + 0x2000);
    const uint8_t *seg = guest_mem_ptr(&f.mem, MB, 0x2000);
    assert_int_equal(seg[0], 0xab);
    assert_int_equal(seg[0xff], 0xab);
    assert_int_equal(seg[0x100], 0);
    assert_int_equal(seg[0x1fff], 0);
    fake_host_destroy(&f);
}

static void elf_refusals(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 8 * MB);
    char err[256];
    struct boot_entry e;
    struct input_file k;
    struct boot_input in = { &k, NULL, 0, "", 0 };

    k = file_of(make_pvh(MB, 0x100, 0x2000, 0xfff0));       /* data past the file end */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "outside the file"));
    k = file_of(make_pvh(MB, 0x100, 0x80, 0x1000));         /* filesz > memsz */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    k = file_of(make_pvh(7 * MB, 0x100, 2 * MB, 0x1000));   /* beyond RAM */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "memory too small"));
    k = file_of(make_pvh(0x9f000, 0x100, 0x1000, 0x1000));  /* over the EBDA: kvmbox's GDT */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "reserved area"));
    k = file_of(make_pvh(0xf0000, 0x100, 0x100, 0x1000));   /* over the MP table */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "reserved area"));
    k = file_of(make_pvh(UINT64_MAX - 0x10, 0x100, 0x100, 0x1000));  /* wraps */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    k = file_of(make_pvh(MB, 0x100, 0x100, 0x1000));
    ((Elf64_Ehdr *)image)->e_phnum = 60000;                 /* headers past the end */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    k = file_of(make_pvh(MB, 0x100, 0x100, 0x1000));
    ((uint32_t *)(image + 0x800))[0] = 0xfffffff0;          /* hostile note namesz */
    assert_int_equal(pvh_load(&f.mem, &in, &e, err, sizeof err), -1);
    fake_host_destroy(&f);
}

static void multiboot_info(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 16 * MB);
    struct input_file k = file_of(make_multiboot_aout(MB_HDR_PAGE_ALIGN | MB_HDR_MEMORY_INFO,
                                                       0x100800, 0x103000));
    uint8_t m0[10];
    memset(m0, 9, sizeof m0);
    struct input_file mods[1] = { mem_file("mod-zero", m0, sizeof m0) };
    struct boot_input in = { &k, mods, 1, "a=1", 0 };
    struct boot_entry e;
    char err[256];
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), 0);
    assert_int_equal(e.mode, ENTRY_PROTECTED32);
    assert_int_equal(e.rax, MULTIBOOT_BOOTLOADER_MAGIC);
    assert_int_equal(e.rip, 0x100020);
    const struct multiboot_info *mbi = guest_mem_ptr(&f.mem, e.rbx, sizeof *mbi);
    assert_true(mbi->flags & MB_INFO_MEMORY);
    assert_true(mbi->flags & MB_INFO_MEM_MAP);
    assert_int_equal(mbi->mem_lower, 639);
    assert_int_equal(mbi->mem_upper, 15 * 1024);
    assert_string_equal(guest_mem_ptr(&f.mem, mbi->cmdline, 1), "test-image a=1");
    assert_string_equal(guest_mem_ptr(&f.mem, mbi->boot_loader_name, 1), "kvmbox");
    assert_int_equal(mbi->mmap_length, 5 * sizeof(struct multiboot_mmap_entry));
    const struct multiboot_mod *mod = guest_mem_ptr(&f.mem, mbi->mods_addr, sizeof *mod);
    assert_int_equal(mbi->mods_count, 1);
    assert_int_equal(mod->mod_start, 0x103000);             /* page after bss_end */
    assert_int_equal(mod->mod_end - mod->mod_start, sizeof m0);
    assert_string_equal(guest_mem_ptr(&f.mem, mod->string, 1), "mod-zero");
    /* Loaded up to load_end_addr, zeroed up to bss_end_addr. */
    const uint8_t *p = guest_mem_ptr(&f.mem, 0x100000, 0x3000);
    assert_int_equal(p[0x7ff], 0xcd);
    assert_int_equal(p[0x800], 0);
    assert_int_equal(p[0x2fff], 0);
    fake_host_destroy(&f);
}

static void multiboot_refusals(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 16 * MB);
    char err[256];
    struct boot_entry e;
    struct input_file k;
    struct boot_input in = { &k, NULL, 0, "", 0 };
    k = file_of(make_multiboot_aout(0, 0x180000, 0));       /* load_end past the file */
    assert_int_equal(multiboot_load(&f.mem, &in, &e, err, sizeof err), -1);
    k = file_of(make_multiboot_aout(0, 0x100800, 0x100400)); /* bss_end before load_end */
    assert_int_equal(multiboot_load(&f.mem, &in, &e, err, sizeof err), -1);
    k = file_of(make_multiboot_aout(0x8, 0, 0));            /* a flag we cannot honour */
    assert_int_equal(multiboot_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "features"));
    k = file_of(make_multiboot_aout(0, 0, 0x7ffffff0));     /* bss beyond RAM */
    assert_int_equal(multiboot_load(&f.mem, &in, &e, err, sizeof err), -1);
    fake_host_destroy(&f);
}

/* Issue 10 item 11: the loader's fields of the setup header never come
 * from the image file, with or without an initrd. */
static void bzimage_loader_fields(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 64 * MB);
    make_bzimage(0x020f, XLF_KERNEL_64, 0x10000, 2047);
    struct setup_header *h = (struct setup_header *)(image + SETUP_HEADER_OFFSET);
    h->ramdisk_image = 0x1234000;
    h->ramdisk_size = 0x5000;
    h->setup_data = 0xdead0000;
    h->hardware_subarch = 2;
    h->hardware_subarch_data = 0xbeef000;
    h->heap_end_ptr = 0x9e00;
    h->ext_loader_ver = 3;
    h->ext_loader_type = 4;
    h->setup_move_size = 0x8000;
    h->loadflags = LOADFLAG_CAN_USE_HEAP | LOADFLAG_KEEP_SEGMENTS | LOADFLAG_QUIET;
    h->cmd_line_ptr = 0x4000;
    h->vid_mode = 3;
    struct input_file k = file_of(1024 + 4096);
    struct input_file empty = mem_file("empty", NULL, 0);
    for (unsigned with_empty = 0; with_empty < 2; with_empty++) {
        struct boot_input in = { &k, &empty, with_empty, "x", 0 };
        struct boot_entry e;
        char err[256];
        assert_int_equal(boot_load(&f.mem, KERNEL_BZIMAGE, &in, &e, err, sizeof err), 0);
        const struct boot_params *bp = guest_mem_ptr(&f.mem, e.rsi, sizeof *bp);
        assert_int_equal(bp->hdr.ramdisk_image, 0);
        assert_int_equal(bp->hdr.ramdisk_size, 0);
        assert_int_equal(bp->hdr.setup_data, 0);
        assert_int_equal(bp->hdr.hardware_subarch, 0);
        assert_int_equal(bp->hdr.hardware_subarch_data, 0);
        assert_int_equal(bp->hdr.heap_end_ptr, 0);
        assert_int_equal(bp->hdr.ext_loader_ver, 0);
        assert_int_equal(bp->hdr.ext_loader_type, 0);
        assert_int_equal(bp->hdr.setup_move_size, 0);
        assert_int_equal(bp->hdr.loadflags, LOADFLAG_LOADED_HIGH);
        assert_int_equal(bp->hdr.vid_mode, 0xffff);
        assert_int_equal(bp->ext_ramdisk_image, 0);
        assert_int_equal(bp->ext_ramdisk_size, 0);
        assert_int_equal(bp->ext_cmd_line_ptr, 0);
        assert_string_equal(guest_mem_ptr(&f.mem, bp->hdr.cmd_line_ptr, 1), "x");
        /* What the kernel says of itself comes through. */
        assert_int_equal(bp->hdr.init_size, 0x10000);
        assert_int_equal(bp->hdr.initrd_addr_max, 0x7fffffff);
    }
    fake_host_destroy(&f);
}

/* Item 8: an empty --initrd is no initrd for Linux and a zero-length
 * module for PVH and multiboot; under SANITIZE=1 this also proves that no
 * memcpy is handed NULL. */
static void empty_initrds(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 32 * MB);
    char err[256];
    struct boot_entry e;
    static uint8_t full[3000];
    memset(full, 0x42, sizeof full);
    struct input_file mods[3] = { mem_file("empty0", NULL, 0), mem_file("full", full, sizeof full),
                                  mem_file("empty2", NULL, 0) };

    struct input_file k = file_of(make_bzimage(0x020f, XLF_KERNEL_64, 0x10000, 2047));
    struct boot_input in = { &k, mods, 1, "", 0 };
    assert_int_equal(boot_load(&f.mem, KERNEL_BZIMAGE, &in, &e, err, sizeof err), 0);
    const struct boot_params *bp = guest_mem_ptr(&f.mem, e.rsi, sizeof *bp);
    assert_int_equal(bp->hdr.ramdisk_image, 0);
    assert_int_equal(bp->hdr.ramdisk_size, 0);

    k = file_of(make_pvh(MB, 0x100, 0x2000, 0x1000));
    in.ninitrds = 3;
    assert_int_equal(boot_load(&f.mem, KERNEL_PVH, &in, &e, err, sizeof err), 0);
    const struct hvm_start_info *si = guest_mem_ptr(&f.mem, e.rbx, sizeof *si);
    assert_int_equal(si->nr_modules, 3);
    const struct hvm_modlist_entry *ml = guest_mem_ptr(&f.mem, si->modlist_paddr, 3 * sizeof *ml);
    assert_int_equal(ml[0].size, 0);
    assert_int_equal(ml[1].size, sizeof full);
    assert_int_equal(ml[2].size, 0);
    assert_memory_equal(guest_mem_ptr(&f.mem, ml[1].paddr, sizeof full), full, sizeof full);

    for (unsigned aout = 0; aout < 2; aout++) {
        k = file_of(aout ? make_multiboot_aout(0, 0, 0) : make_multiboot_elf(MB, 0x100, 0x100));
        assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), 0);
        const struct multiboot_info *mbi = guest_mem_ptr(&f.mem, e.rbx, sizeof *mbi);
        assert_int_equal(mbi->mods_count, 3);
        const struct multiboot_mod *mod = guest_mem_ptr(&f.mem, mbi->mods_addr, 3 * sizeof *mod);
        assert_int_equal(mod[0].mod_end, mod[0].mod_start);
        assert_int_equal(mod[1].mod_end - mod[1].mod_start, sizeof full);
        assert_int_equal(mod[2].mod_end, mod[2].mod_start);
        assert_memory_equal(guest_mem_ptr(&f.mem, mod[1].mod_start, sizeof full), full,
                            sizeof full);
        assert_string_equal(guest_mem_ptr(&f.mem, mod[2].string, 1), "empty2");
    }
    fake_host_destroy(&f);
}

/* Item 4: multiboot_load finds its header again and must check it. */
static void multiboot_without_header(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 16 * MB);
    struct input_file k = file_of(make_bzimage(0x020f, XLF_KERNEL_64, 0, 2047));
    struct boot_input in = { &k, NULL, 0, "", 0 };
    struct boot_entry e;
    char err[256];
    assert_int_equal(multiboot_load(&f.mem, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "no multiboot header"));
    k = file_of(0);
    assert_int_equal(multiboot_load(&f.mem, &in, &e, err, sizeof err), -1);
    fake_host_destroy(&f);
}

/* True if [a, a+alen) and [b, b+blen) share a byte. */
static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* Checks that every piece of boot data a multiboot kernel is handed lies
 * in RAM outside [seg, seg+seglen) and outside the reserved BIOS area. */
static void assert_mbi_clear_of(struct fake_host *f, uint64_t mbi_at, uint64_t seg,
                                uint64_t seglen)
{
    const struct multiboot_info *mbi = guest_mem_ptr(&f->mem, mbi_at, sizeof *mbi);
    assert_non_null(mbi);
    const char *cmd = guest_mem_ptr(&f->mem, mbi->cmdline, 1);
    struct { uint64_t at, len; } pieces[] = {
        { mbi_at, sizeof *mbi },
        { mbi->mmap_addr, mbi->mmap_length },
        { mbi->mods_addr, mbi->mods_count * sizeof(struct multiboot_mod) },
        { mbi->cmdline, strlen(cmd) + 1 },
        { mbi->boot_loader_name, 7 },
    };
    for (unsigned i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        assert_true(guest_mem_contains(&f->mem, pieces[i].at, pieces[i].len));
        assert_false(overlap(pieces[i].at, pieces[i].len, seg, seglen));
        assert_false(overlap(pieces[i].at, pieces[i].len, LAYOUT_EBDA_START,
                             MB - LAYOUT_EBDA_START));
    }
    const struct multiboot_mod *mod = guest_mem_ptr(&f->mem, mbi->mods_addr,
                                                    mbi->mods_count * sizeof *mod);
    for (unsigned m = 0; m < mbi->mods_count; m++) {
        assert_true(mod[m].mod_start >= MB);
        assert_false(overlap(mod[m].mod_start, mod[m].mod_end - mod[m].mod_start, seg, seglen));
        for (unsigned i = 0; i < sizeof pieces / sizeof pieces[0]; i++)
            assert_false(overlap(pieces[i].at, pieces[i].len, mod[m].mod_start,
                                 mod[m].mod_end - mod[m].mod_start));
    }
}

/* Item 22: a multiboot kernel may load below 1 MiB (kvm-unit-tests'
 * realmode links at 0x8000 or so); kvmbox's boot data goes around it. */
static void multiboot_low_segments(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 16 * MB);
    char err[256];
    struct boot_entry e;
    static uint8_t m0[5000];
    memset(m0, 0x33, sizeof m0);
    struct input_file mods[1] = { mem_file("mod0", m0, sizeof m0) };
    struct input_file k;
    struct boot_input in = { &k, mods, 1, "realmode", 0 };

    /* At 0x8000, right on top of where the boot data would start. */
    k = file_of(make_multiboot_elf(0x8000, 0x3000, 0x18000));
    guest_mem_fill(&f.mem, 0, 0xee, LAYOUT_EBDA_START);
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), 0);
    assert_int_equal(e.rip, 0x8000);
    assert_int_equal(e.rax, MULTIBOOT_BOOTLOADER_MAGIC);
    assert_true(e.rbx < LAYOUT_EBDA_START);  /* still in conventional memory */
    assert_mbi_clear_of(&f, e.rbx, 0x8000, 0x18000);
    const uint8_t *seg = guest_mem_ptr(&f.mem, 0x8000, 0x18000);
    for (unsigned i = 0; i < 0x18000; i++)
        assert_int_equal(seg[i], i < 0x3000 ? 0x5a : 0);
    const struct multiboot_info *mbi = guest_mem_ptr(&f.mem, e.rbx, sizeof *mbi);
    assert_string_equal(guest_mem_ptr(&f.mem, mbi->cmdline, 1), "test-image realmode");
    const struct multiboot_mod *mod = guest_mem_ptr(&f.mem, mbi->mods_addr, sizeof *mod);
    assert_memory_equal(guest_mem_ptr(&f.mem, mod->mod_start, sizeof m0), m0, sizeof m0);

    /* Conventional memory all taken: the boot data goes above 1 MiB,
     * clear of the module too. */
    k = file_of(make_multiboot_elf(0x1000, 0x100, LAYOUT_EBDA_START - 0x1000));
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), 0);
    assert_true(e.rbx >= MB);
    assert_mbi_clear_of(&f, e.rbx, 0x1000, LAYOUT_EBDA_START - 0x1000);

    /* An a.out-kludge image low down too. */
    k = file_of(make_multiboot_aout_at(0x8000, 0, 0x8800, 0x10000));
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), 0);
    assert_int_equal(e.rip, 0x8020);
    assert_mbi_clear_of(&f, e.rbx, 0x8000, 0x8000);
    assert_int_equal(*(const uint8_t *)guest_mem_ptr(&f.mem, 0x87ff, 1), 0xcd);

    /* But never over kvmbox's GDT and stack or the ACPI and MP tables. */
    k = file_of(make_multiboot_elf(0x9f000, 0x100, 0x1000));
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "reserved area"));
    k = file_of(make_multiboot_elf(0xe0000, 0x100, 0x100));
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "reserved area"));
    k = file_of(make_multiboot_aout_at(0xf0000, 0, 0, 0));
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "reserved area"));
    /* Nor outside RAM. */
    k = file_of(make_multiboot_elf(15 * MB, 0x100, 2 * MB));
    assert_int_equal(boot_load(&f.mem, KERNEL_MULTIBOOT, &in, &e, err, sizeof err), -1);
    assert_non_null(strstr(err, "memory too small"));
    fake_host_destroy(&f);
}

static void cpu_modes(void **state)
{
    (void)state;
    struct fake_host f;
    fake_host_init(&f, 8 * MB);
    struct kvm_sregs s;
    memset(&s, 0, sizeof s);
    assert_int_equal(cpu_mode_setup(&f.mem, ENTRY_LONG64, &s), 0);
    assert_true(s.cs.l);
    assert_false(s.cs.db);
    assert_int_equal(s.cs.selector, BOOT_SEL_CODE64);
    assert_int_equal(s.ds.selector, BOOT_SEL_DATA);
    assert_int_equal(s.ds.limit, 0xffffffff);
    assert_true(s.cr0 & (1ULL << 31));
    assert_int_equal(s.efer & 0x500, 0x500);
    assert_int_equal(s.cr3, LAYOUT_PML4);
    const uint64_t *pd = guest_mem_ptr(&f.mem, LAYOUT_PD, 4 * 4096);
    assert_int_equal(pd[0], 0x83);
    assert_int_equal(pd[2047], (2047ULL << 21) | 0x83);  /* identity up to 4 GiB */
    memset(&s, 0, sizeof s);
    assert_int_equal(cpu_mode_setup(&f.mem, ENTRY_PROTECTED32, &s), 0);
    assert_false(s.cs.l);
    assert_true(s.cs.db);
    assert_int_equal(s.cs.selector, BOOT_SEL_CODE32);
    assert_int_equal(s.cr0 & (1ULL << 31), 0);
    assert_int_equal(s.cr0 & 1, 1);
    assert_int_equal(s.efer, 0);
    fake_host_destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(detection),
        cmocka_unit_test(e820_layouts),
        cmocka_unit_test(bzimage_boot_params),
        cmocka_unit_test(bzimage_refusals),
        cmocka_unit_test(pvh_start_info),
        cmocka_unit_test(elf_refusals),
        cmocka_unit_test(multiboot_info),
        cmocka_unit_test(multiboot_refusals),
        cmocka_unit_test(bzimage_loader_fields),
        cmocka_unit_test(empty_initrds),
        cmocka_unit_test(multiboot_without_header),
        cmocka_unit_test(multiboot_low_segments),
        cmocka_unit_test(cpu_modes),
    };
    return cmocka_run_group_tests_name("boot", tests, NULL, NULL);
}
