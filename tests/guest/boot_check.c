/* The boot-protocol test guest. Built as a bzImage, a PVH ELF, a multiboot
 * ELF and a multiboot flat binary; whichever way it was booted, it checks
 * from the inside what kvmbox promised: the entry state, the command line,
 * the memory map against expect_mem=, the initrd/module bytes against
 * modN=SIZE:CKSUM (POSIX cksum, so the host side is `cksum FILE`), and
 * finally leaves through the debug-exit port with exit_code= (or reset).
 * Without "kvmbox-test" on the command line it just reports what it sees:
 * that is `make run-demo`. */
#include "checks.h"
#include "guest.h"

#include "arch/x86/bootparam.h"

#define EFER_LMA (1u << 10)
#define CR0_PE 1u
#define CR0_PG (1u << 31)
#define CR4_PAE (1u << 5)
#define RFLAGS_IF (1u << 9)

struct region { uint64_t addr, size; uint32_t type; };
struct module { uint64_t addr, size; };

static struct region map[32];
static unsigned nmap;
static struct module mods[16];
static unsigned nmods;
static const char *cmdline = "";
static uint64_t handed_rsdp;  /* the RSDP the boot protocol passed, if any */
static unsigned passed, failed;

void check(bool ok, const char *what)
{
    if (ok) {
        passed++;
        print("ok - %s\n", what);
    } else {
        failed++;
        print("not ok - %s\n", what);
    }
}

static void add_region(uint64_t addr, uint64_t size, uint32_t type)
{
    if (nmap < sizeof map / sizeof map[0])
        map[nmap++] = (struct region){ addr, size, type };
}

static void add_module(uint64_t addr, uint64_t size)
{
    if (nmods < sizeof mods / sizeof mods[0])
        mods[nmods++] = (struct module){ addr, size };
}

static void from_linux(void)
{
    const struct boot_params *bp = (const void *)boot_state.rsi;
    print("entered: Linux 64-bit boot protocol, boot_params at %p\n", (void *)bp);
    check(boot_state.cs == 0x10, "entry: CS is __BOOT_CS (0x10)");
    check((boot_state.efer & EFER_LMA) && (boot_state.cr0 & CR0_PG) && (boot_state.cr4 & CR4_PAE),
          "entry: long mode with paging");
    check(!(boot_state.rflags & RFLAGS_IF), "entry: interrupts disabled");
    bool hdr = bp && bp->hdr.header == SETUP_HDRS_MAGIC && bp->hdr.boot_flag == SETUP_BOOT_FLAG;
    check(hdr, "boot_params: setup header present (HdrS, 0xAA55)");
    if (!hdr)
        return;
    check(bp->hdr.type_of_loader == 0xff, "boot_params: type_of_loader is 0xff");
    check(bp->hdr.loadflags & LOADFLAG_LOADED_HIGH, "boot_params: LOADED_HIGH");
    cmdline = (const char *)(uintptr_t)bp->hdr.cmd_line_ptr;
    handed_rsdp = bp->acpi_rsdp_addr;
    for (unsigned i = 0; i < bp->e820_entries && i < E820_MAX_ENTRIES_ZEROPAGE; i++)
        add_region(bp->e820_table[i].addr, bp->e820_table[i].size, bp->e820_table[i].type);
    if (bp->hdr.ramdisk_size)
        add_module(bp->hdr.ramdisk_image, bp->hdr.ramdisk_size);
}

static void from_pvh(void)
{
    const struct hvm_start_info *si = (const void *)boot_state.rbx;
    print("entered: PVH, hvm_start_info at %p\n", (void *)si);
    check((boot_state.cr0 & CR0_PE) && !(boot_state.cr0 & CR0_PG),
          "entry: 32-bit protected mode, paging off");
    check(!(boot_state.rflags & RFLAGS_IF), "entry: interrupts disabled");
    bool ok = si && si->magic == HVM_START_MAGIC;
    check(ok, "start_info: magic 0x336ec578");
    if (!ok)
        return;
    check(si->version >= 1, "start_info: version 1 (has a memory map)");
    cmdline = (const char *)(uintptr_t)si->cmdline_paddr;
    handed_rsdp = si->rsdp_paddr;
    const struct hvm_memmap_table_entry *mm = (const void *)(uintptr_t)si->memmap_paddr;
    for (unsigned i = 0; i < si->memmap_entries; i++)
        add_region(mm[i].addr, mm[i].size, mm[i].type);
    const struct hvm_modlist_entry *ml = (const void *)(uintptr_t)si->modlist_paddr;
    for (unsigned i = 0; i < si->nr_modules; i++)
        add_module(ml[i].paddr, ml[i].size);
}

static void from_multiboot(void)
{
    const struct multiboot_info *mbi = (const void *)boot_state.rbx;
    print("entered: multiboot, info at %p\n", (void *)mbi);
    check((uint32_t)boot_state.rax == MULTIBOOT_BOOTLOADER_MAGIC, "entry: EAX is 0x2BADB002");
    check((boot_state.cr0 & CR0_PE) && !(boot_state.cr0 & CR0_PG),
          "entry: 32-bit protected mode, paging off");
    check(!(boot_state.rflags & RFLAGS_IF), "entry: interrupts disabled");
    uint32_t need = MB_INFO_MEMORY | MB_INFO_CMDLINE | MB_INFO_MODS | MB_INFO_MEM_MAP;
    check((mbi->flags & need) == need, "info: memory, cmdline, modules and map present");
    if (mbi->flags & MB_INFO_BOOT_LOADER_NAME) {
        const char *name = (const char *)(uintptr_t)mbi->boot_loader_name;
        check(!strncmp(name, "kvmbox", 7), "info: boot loader name is kvmbox");
    }
    check(mbi->mem_lower == 639, "info: mem_lower is 639 KiB");
    cmdline = (const char *)(uintptr_t)mbi->cmdline;
    for (uint64_t p = mbi->mmap_addr; p < (uint64_t)mbi->mmap_addr + mbi->mmap_length;) {
        const struct multiboot_mmap_entry *e = (const void *)(uintptr_t)p;
        add_region(e->addr, e->len, e->type);
        p += e->size + 4;
    }
    const struct multiboot_mod *m = (const void *)(uintptr_t)mbi->mods_addr;
    for (unsigned i = 0; i < mbi->mods_count; i++) {
        print("module %u: %s\n", i, (const char *)(uintptr_t)m[i].string);
        add_module(m[i].mod_start, m[i].mod_end - m[i].mod_start);
    }
    /* mem_upper: KiB from 1 MiB to the first hole. */
    for (unsigned i = 0; i < nmap; i++)
        if (map[i].addr == 0x100000 && map[i].type == E820_RAM)
            check(mbi->mem_upper == map[i].size >> 10, "info: mem_upper matches the map");
}

static void check_memory(void)
{
    uint64_t ram = 0, ram_end = 0;
    bool ordered = true;
    for (unsigned i = 0; i < nmap; i++) {
        print("memory: 0x%llx-0x%llx type %u\n", map[i].addr, map[i].addr + map[i].size,
              map[i].type);
        if (i && map[i].addr < map[i - 1].addr + map[i - 1].size)
            ordered = false;
        if (map[i].type == E820_RAM) {
            ram += map[i].size;
            ram_end = map[i].addr + map[i].size;
        }
    }
    check(nmap > 0 && ordered, "memory map: sorted, no overlaps");
    char buf[32];
    if (!cmdline_get(cmdline, "expect_mem", buf, sizeof buf))
        return;
    uint64_t want = parse_u64(buf);
    const uint64_t hole = 0xc0000000ull;
    uint64_t want_end = want <= hole ? want : 0x100000000ull + (want - hole);
    print("memory: %llu bytes of RAM, ends at 0x%llx; expected %llu\n", ram, ram_end, want);
    check(ram == want - (0x100000 - 0x9fc00), "memory map: RAM adds up to --memory");
    check(ram_end == want_end, "memory map: RAM ends where --memory says");
    /* The last page below the hole must really be RAM. */
    uint64_t low_end = want < hole ? want : hole;
    volatile uint64_t *top = (volatile uint64_t *)(uintptr_t)(low_end - 8);
    *top = 0x6b766d626f78ull;
    check(*top == 0x6b766d626f78ull, "memory: the top of low RAM is writable");
}

static void check_modules(void)
{
    char buf[64];
    if (cmdline_get(cmdline, "expect_mods", buf, sizeof buf))
        check(nmods == parse_u64(buf), "modules: count as expected");
    for (unsigned i = 0; i < nmods; i++) {
        char key[8] = { 'm', 'o', 'd', (char)('0' + i), 0 };
        uint32_t sum = posix_cksum((const void *)(uintptr_t)mods[i].addr, mods[i].size);
        print("module %u: 0x%llx, %llu bytes, cksum %u\n", i, mods[i].addr, mods[i].size, sum);
        if (i < 10 && cmdline_get(cmdline, key, buf, sizeof buf)) {
            char *colon = buf;
            while (*colon && *colon != ':')
                colon++;
            bool ok = *colon == ':';
            if (ok) {
                *colon = 0;
                ok = parse_u64(buf) == mods[i].size && parse_u64(colon + 1) == sum;
            }
            check(ok, i == 0 ? "module 0: size and cksum match" : "module N: size and cksum match");
        }
    }
}

static void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* What kvmbox promises about CPUID: the hypervisor bit, the KVM signature
 * leaf, and features hidden by --cpu-filter (cpuid_hidden=cx16,avx). */
static void check_cpuid(void)
{
    uint32_t a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    check(c & (1u << 31), "cpuid: hypervisor bit set");
    uint32_t ecx1 = c;
    print("cpuid: leaf 1 ecx 0x%x edx 0x%x\n", c, d);
    cpuid(0x40000000, &a, &b, &c, &d);
    char sig[13];
    memcpy(sig, &b, 4);
    memcpy(sig + 4, &c, 4);
    memcpy(sig + 8, &d, 4);
    sig[12] = 0;
    print("cpuid: hypervisor signature '%s', max leaf 0x%x\n", sig, a);
    check(!memcmp(sig, "KVMKVMKVM\0\0\0", 12) && a >= 0x40000001,
          "cpuid: KVM paravirtual leaves present");
    static const struct { const char *name; uint8_t bit; } leaf1_ecx[] = {
        { "cx16", 13 }, { "xsave", 26 }, { "avx", 28 },
    };
    char buf[64];
    if (!cmdline_get(cmdline, "cpuid_hidden", buf, sizeof buf))
        return;
    for (unsigned i = 0; i < sizeof leaf1_ecx / sizeof leaf1_ecx[0]; i++) {
        size_t n = strlen(leaf1_ecx[i].name);
        for (const char *p = buf; *p; p++) {
            if ((p == buf || p[-1] == ',') && !strncmp(p, leaf1_ecx[i].name, n) &&
                (p[n] == ',' || !p[n])) {
                print("cpuid: %s must be hidden\n", leaf1_ecx[i].name);
                check(!(ecx1 & (1u << leaf1_ecx[i].bit)), "cpuid: feature hidden by --cpu-filter");
            }
        }
    }
}

/* Reads serial input by polling until a '.', then prints it back: the
 * host's stdin -> UART receive path, end to end. */
static void echo_input(void)
{
    char line[128];
    size_t n = 0;
    print("echo: ready\n");
    for (;;) {
        while (!(inb(0x3f8 + 5) & 0x01))
            ;
        char c = (char)inb(0x3f8);
        if (c == '.')
            break;
        if (n + 1 < sizeof line)
            line[n++] = c;
    }
    line[n] = 0;
    print("echo: got '%s'\n", line);
}

/* pattern_mib=M rounds=R: the live-migration test's guest. M MiB from 16
 * MiB up (clear of the image at 1 MiB and of what kvmbox places low) are
 * rewritten R times; before round r rewrites a page it checks the page
 * still holds round r-1's words (zero before round 0), so a page the
 * migration lost or sent stale is found, by round and page. Every 32nd
 * word (16 a page) is enough for that, since pages move whole, and keeps a
 * round of 4 MiB near 0.2 s where guest code is emulated (the whole page
 * costs 1.5 s a MiB there). */
#define PATTERN_BASE 0x1000000ull
#define PATTERN_STRIDE 32

static uint64_t pattern_word(uint64_t page, unsigned i, uint64_t round)
{
    return ((page + 1) * 0x9e3779b97f4a7c15ull) ^ ((round + 1) * 0xc2b2ae3d27d4eb4full) ^ i;
}

static bool pattern_in_ram(uint64_t start, uint64_t end)
{
    for (unsigned i = 0; i < nmap; i++)
        if (map[i].type == E820_RAM && map[i].addr <= start && end <= map[i].addr + map[i].size)
            return true;
    return false;
}

static void pattern_rounds(const char *mib_arg)
{
    char buf[24];
    uint64_t pages = parse_u64(mib_arg) << 8;
    uint64_t rounds = cmdline_get(cmdline, "rounds", buf, sizeof buf) ? parse_u64(buf) : 1;
    if (!pattern_in_ram(PATTERN_BASE, PATTERN_BASE + (pages << 12))) {
        check(false, "pattern: the region is RAM");
        return;
    }
    print("pattern: %llu pages, %llu rounds\n", (unsigned long long)pages,
          (unsigned long long)rounds);
    volatile uint64_t *mem = (volatile uint64_t *)(uintptr_t)PATTERN_BASE;
    for (uint64_t r = 0; r < rounds; r++) {
        for (uint64_t p = 0; p < pages; p++) {
            volatile uint64_t *w = mem + (p << 9);
            for (unsigned i = 0; i < 512; i += PATTERN_STRIDE) {
                uint64_t want = r ? pattern_word(p, i, r - 1) : 0;
                if (w[i] != want) {
                    print("pattern: MISMATCH round %llu page %llu\n", (unsigned long long)r,
                          (unsigned long long)p);
                    check(false, "pattern: every page held the previous round's words");
                    return;
                }
            }
            for (unsigned i = 0; i < 512; i += PATTERN_STRIDE)
                w[i] = pattern_word(p, i, r);
        }
        print("pattern: round %llu\n", (unsigned long long)r);
    }
    print("pattern: all %llu rounds verified\n", (unsigned long long)rounds);
}

void guest_main(void)
{
    serial_init();
    print("kvmbox test guest\n");
    switch (boot_state.kind) {
    case KIND_LINUX64: from_linux(); break;
    case KIND_PVH: from_pvh(); break;
    case KIND_MULTIBOOT: from_multiboot(); break;
    default: check(false, "entry: known entry stub"); break;
    }
    print("cmdline: %s\n", cmdline);
    check_cpuid();
    check_memory();
    check_modules();
    tables_checks(cmdline, handed_rsdp);
    smp_checks(cmdline);
    time_checks(cmdline);
    virtio_checks(cmdline);

    char buf0[24];
    if (cmdline_has(cmdline, "irq"))
        irq_checks();
    if (cmdline_has(cmdline, "echo"))
        echo_input();
    if (cmdline_has(cmdline, "int3")) {
        print("int3: trapping with no IDT\n");
        __asm__ volatile("int3");
    }
    if (cmdline_has(cmdline, "spin")) {
        print("spin: running until stopped\n");
        guest_hang();
    }
    if (cmdline_get(cmdline, "count_to", buf0, sizeof buf0)) {
        /* Counts to N in memory, printing every tenth of the way, then
         * a checksum of a page it filled: a VM snapshotted and restored
         * on the way must get there with the same numbers. */
        static volatile struct {
            char marker[16];
            uint64_t n;
        } progress = { "KVMBOX-COUNTER!", 0 };
        static volatile uint32_t page[1024];
        uint64_t to = parse_u64(buf0);
        for (unsigned i = 0; i < 1024; i++)
            page[i] = i * 2654435761u;
        print("count_to: counting to %llu\n", (unsigned long long)to);
        for (progress.n = 0; progress.n < to; progress.n++)
            if (to >= 10 && progress.n % (to / 10) == 0)
                print("count_to: %llu\n", (unsigned long long)progress.n);
        uint32_t sum = 0;
        for (unsigned i = 0; i < 1024; i++)
            sum = sum * 31 + page[i];
        print("count_to: reached %llu, page checksum %x\n", (unsigned long long)progress.n, sum);
    }
    if (cmdline_get(cmdline, "pattern_mib", buf0, sizeof buf0))
        pattern_rounds(buf0);
    if (cmdline_has(cmdline, "count")) {
        /* A counter that only moves while the vCPU runs: the host finds
         * it by the marker before it and checks that a pause stops it. */
        static volatile struct {
            char marker[16];
            uint64_t n;
        } counter = { "KVMBOX-COUNTER!", 0 };
        print("count: counting\n");
        for (;;)
            counter.n++;
    }
    if (cmdline_has(cmdline, "flood")) {
        /* Console output without end: kvmbox must stay stoppable when
         * nobody reads its stdout. */
        print("flood: writing until stopped\n");
        for (unsigned long long n = 0;; n++)
            print("flood: line %llu of console output that nobody has to read\n", n);
    }

    bool testing = cmdline_has(cmdline, "kvmbox-test");
    if (failed)
        print("guest: %u of %u checks FAILED\n", failed, passed + failed);
    else
        print("guest: all %u checks passed\n", passed);

    char buf[32];
    if (cmdline_get(cmdline, "exit", buf, sizeof buf)) {
        if (!strncmp(buf, "reset", 6))
            guest_reset_i8042();
        if (!strncmp(buf, "triple", 7))
            guest_triple_fault();
    }
    uint32_t code = 0;
    if (cmdline_get(cmdline, "exit_code", buf, sizeof buf))
        code = (uint32_t)parse_u64(buf);
    else if (testing)
        code = 0x10;
    guest_exit(failed ? 0x7f : code);
}
