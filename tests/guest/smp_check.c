/* SMP bring-up, with "smp" and expect_cpus=N on the command line: the BSP
 * starts every AP with INIT-SIPI-SIPI through its local APIC and a
 * real-mode trampoline; each AP reports its APIC ID and adds to a shared
 * counter with locked instructions; the BSP checks that all N arrived, with
 * distinct IDs, and that the count is exact.
 * With "ipi" as well (lab tier: the APs take interrupts), each AP then
 * waits with interrupts on; the BSP sends a fixed IPI to each by APIC ID,
 * and each AP answers from its handler with an IPI back to the BSP. */
#include "checks.h"
#include "guest.h"
#include "interrupts.h"

#define LAPIC 0xfee00000ull
#define LAPIC_ID 0x20
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x00000500
#define ICR_STARTUP 0x00000600
#define ICR_ASSERT 0x00004000
#define ICR_LEVEL 0x00008000
#define ICR_ALL_BUT_SELF 0x000c0000
#define ICR_BUSY 0x00001000
#define TRAMPOLINE 0x30000ull      /* SIPI vector 0x30 */
#define AP_STACKS 0x40000ull       /* 16 KiB each, below the kernel at 1 MiB */
#define MAX_APS 48
#define ADDS_PER_CPU 1000
#define WAIT_CYCLES 20000000000ull

extern char trampoline_start[], trampoline_end[];
extern uint32_t tramp_jump_target, tramp_gdt_base;
extern uint64_t tramp_cr3, tramp_entry, tramp_stacks;
extern char tramp_long_offset[], tramp_gdt_offset[];

#define LAPIC_EOI 0xb0
#define ICR_DEST_SHIFT 24
#define IPI_TO_AP_VECTOR 0x60
#define IPI_TO_BSP_VECTOR 0x61

static volatile uint32_t arrived, counter, ready_for_ipi, answers;
static volatile uint8_t seen_id[256], ipi_seen[256];
static volatile bool ipi_mode;
static volatile uint32_t bsp_apic_id;

/* The BSP's GDT and selectors, which the IDT's gates name: an AP leaves
 * the trampoline on the trampoline's GDT and adopts these before it
 * enables interrupts. */
static struct __attribute__((packed)) { uint16_t limit; uint64_t base; } bsp_gdt;
static uint16_t bsp_cs, bsp_ss;

static uint32_t lapic_read(unsigned reg) { return *(volatile uint32_t *)(uintptr_t)(LAPIC + reg); }
static void lapic_write(unsigned reg, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(LAPIC + reg) = v; }

static void add_to_counter(void)
{
    for (int i = 0; i < ADDS_PER_CPU; i++)
        __asm__ volatile("lock incl %0" : "+m"(counter));
}

static uint32_t my_apic_id(void)
{
    uint32_t a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    return b >> 24;
}

static void send_ipi_to(uint32_t dest, uint32_t icr)
{
    lapic_write(LAPIC_ICR_HI, dest << ICR_DEST_SHIFT);
    lapic_write(LAPIC_ICR_LO, icr);
    for (int i = 0; i < 100000 && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
        __asm__ volatile("pause");
}

static void send_ipi(uint32_t icr) { send_ipi_to(0, icr); }

static void adopt_bsp_gdt(void)
{
    __asm__ volatile("lgdt %0\n\t"
                     "pushq %q1\n\t"
                     "leaq 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\tmov %w2, %%ds\n\t"
                     "mov %w2, %%es\n\t"
                     "mov %w2, %%ss"
                     : : "m"(bsp_gdt), "r"((uint64_t)bsp_cs), "r"(bsp_ss) : "rax", "memory");
}

/* On an AP: count the BSP's IPI and answer it. */
static void on_ipi_to_ap(struct irq_frame *f)
{
    (void)f;
    ipi_seen[my_apic_id() & 0xff]++;
    lapic_write(LAPIC_EOI, 0);
    send_ipi_to(bsp_apic_id, IPI_TO_BSP_VECTOR);
}

static void on_ipi_to_bsp(struct irq_frame *f)
{
    (void)f;
    __asm__ volatile("lock incl %0" : "+m"(answers));
    lapic_write(LAPIC_EOI, 0);
}

void ap_entry(void);
void ap_entry(void)
{
    seen_id[my_apic_id() & 0xff]++;
    add_to_counter();
    __asm__ volatile("lock incl %0" : "+m"(arrived));
    if (ipi_mode) {
        adopt_bsp_gdt();
        idt_load();
        lapic_write(LAPIC_SVR, 0x1ff);
        __asm__ volatile("lock incl %0" : "+m"(ready_for_ipi));
        for (;;)
            __asm__ volatile("sti; hlt" ::: "memory");
    }
    for (;;)
        __asm__ volatile("cli; hlt");
}

static void delay(uint64_t cycles)
{
    uint64_t end = rdtsc() + cycles;
    while (rdtsc() < end)
        __asm__ volatile("pause");
}

static bool wait_for(volatile uint32_t *v, uint32_t target)
{
    uint64_t end = rdtsc() + WAIT_CYCLES;
    while (rdtsc() < end && *v < target)
        __asm__ volatile("pause");
    return *v >= target;
}

/* Fixed IPIs from the BSP to each AP by APIC ID, one at a time, and the
 * answers back; each AP must see exactly its own. */
static void ipi_checks(unsigned n)
{
    bool ready = wait_for(&ready_for_ipi, n - 1);
    check(ready, "ipi: every AP waits with interrupts enabled");
    sti();
    for (unsigned id = 0; ready && id < n; id++) {
        if (id == bsp_apic_id)
            continue;
        uint32_t before = answers;
        send_ipi_to(id, IPI_TO_AP_VECTOR);
        wait_for(&answers, before + 1);
    }
    cli();
    bool each = true;
    for (unsigned id = 0; id < 256; id++)
        if (ipi_seen[id] != (id < n && id != bsp_apic_id ? 1 : 0))
            each = false;
    print("ipi: %u of %u APs took the BSP's IPI and answered\n", answers, n - 1);
    check(each, "ipi: each AP takes the fixed IPI sent to its APIC ID, exactly once");
    check(answers == n - 1, "ipi: every answer from an AP reaches the BSP");
}

void smp_checks(const char *cmdline)
{
    char buf[16];
    if (!cmdline_has(cmdline, "smp") || !cmdline_get(cmdline, "expect_cpus", buf, sizeof buf))
        return;
    unsigned n = (unsigned)parse_u64(buf);
    if (n < 1 || n - 1 > MAX_APS) {
        check(false, "smp: expect_cpus within what the test supports");
        return;
    }
    /* Patch and place the trampoline. */
    uint64_t size = (uint64_t)(trampoline_end - trampoline_start);
    uint64_t cr3;
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    tramp_jump_target = (uint32_t)(TRAMPOLINE + (uintptr_t)tramp_long_offset);
    tramp_gdt_base = (uint32_t)(TRAMPOLINE + (uintptr_t)tramp_gdt_offset);
    tramp_cr3 = cr3;
    tramp_entry = (uint64_t)(uintptr_t)ap_entry;
    tramp_stacks = AP_STACKS;
    memcpy((void *)(uintptr_t)TRAMPOLINE, trampoline_start, size);

    lapic_write(LAPIC_SVR, 0x1ff);                  /* software-enable the LAPIC */
    uint32_t bsp_id = lapic_read(LAPIC_ID) >> 24;
    bsp_apic_id = bsp_id;
    if (cmdline_has(cmdline, "ipi")) {
        __asm__ volatile("sgdt %0; mov %%cs, %1; mov %%ss, %2"
                         : "=m"(bsp_gdt), "=r"(bsp_cs), "=r"(bsp_ss));
        idt_init();
        idt_set_handler(IPI_TO_AP_VECTOR, on_ipi_to_ap);
        idt_set_handler(IPI_TO_BSP_VECTOR, on_ipi_to_bsp);
        ipi_mode = true;
    }
    seen_id[bsp_id & 0xff]++;
    add_to_counter();
    if (n > 1) {
        send_ipi(ICR_ALL_BUT_SELF | ICR_INIT | ICR_ASSERT | ICR_LEVEL);
        delay(10000000);                            /* the 10 ms of the MP spec, roughly */
        for (int i = 0; i < 2; i++) {
            send_ipi(ICR_ALL_BUT_SELF | ICR_STARTUP | (uint32_t)(TRAMPOLINE >> 12));
            delay(200000);
        }
    }
    uint64_t end = rdtsc() + WAIT_CYCLES;
    while (rdtsc() < end && (arrived < n - 1 || counter < n * ADDS_PER_CPU))
        __asm__ volatile("pause");
    print("smp: %u of %u APs arrived, counter %u (expected %u)\n", arrived, n - 1, counter,
          n * ADDS_PER_CPU);
    check(arrived == n - 1, "smp: every AP started by INIT-SIPI-SIPI");
    bool ids = true;
    for (unsigned i = 0; i < 256; i++)
        if (seen_id[i] != (i < n ? 1 : 0))
            ids = false;
    check(ids, "smp: each CPU reports a distinct APIC ID in 0..N-1");
    check(counter == n * ADDS_PER_CPU, "smp: the shared counter adds up (locked increments)");
    if (ipi_mode)
        ipi_checks(n);
}
