/* Interrupt-driven checks, run with "irq" on the command line: exceptions
 * through the IDT, PIT ticks on IRQ 0, and the UART's transmit and receive
 * interrupts on IRQ 4, through KVM's in-kernel PIC and LAPIC (LINT0 in
 * ExtINT mode, as kvmbox sets it). Every wait is bounded by the TSC so a
 * missing interrupt fails a check instead of hanging the guest. */
#include "checks.h"
#include "guest.h"
#include "interrupts.h"

#define COM1 0x3f8
#define COM1_IRQ 4
#define WAIT_CYCLES 40000000000ull   /* ~10-20 s on any plausible TSC */

#define LAPIC 0xfee00000ull
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0
#define LAPIC_TIMER_PERIODIC (1u << 17)
#define LAPIC_TIMER_VECTOR 0x41
#define IOAPIC 0xfec00000ull
#define IOAPIC_VECTOR_BASE 0x50     /* pin n at 0x50 + n */

static volatile uint32_t ticks, thre_events, rx_events, lapic_ticks;
static volatile unsigned tx_pos, rx_len;
static volatile bool rx_done;
static char rx_buf[64];
static const char tx_msg[] = "irq-tx: this line was sent by THRE interrupts\n";

static void skip_2_bytes(struct irq_frame *f) { f->rip += 2; }  /* ud2, div %ecx */
static void on_timer(struct irq_frame *f) { (void)f; ticks++; pic_eoi(0); }

static void on_com1_body(void)
{
    for (;;) {
        uint8_t iir = inb(COM1 + 2) & 0x0f;
        if (iir & 1)
            break;
        if (iir == 0x02) {                              /* THR empty */
            thre_events++;
            if (tx_msg[tx_pos])
                outb(COM1, (uint8_t)tx_msg[tx_pos++]);
            else
                outb(COM1 + 1, inb(COM1 + 1) & (uint8_t)~0x02);
        } else if (iir == 0x04 || iir == 0x0c) {        /* data, or timeout */
            rx_events++;
            while (inb(COM1 + 5) & 0x01) {
                char c = (char)inb(COM1);
                if (c == '.')
                    rx_done = true;
                else if (rx_len + 1 < sizeof rx_buf)
                    rx_buf[rx_len++] = c;
            }
        } else if (iir == 0x06) {
            inb(COM1 + 5);
        } else {
            inb(COM1 + 6);
        }
    }
}

static void on_com1(struct irq_frame *f)
{
    (void)f;
    on_com1_body();
    pic_eoi(COM1_IRQ);
}

static void lapic_write(unsigned reg, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(LAPIC + reg) = v; }

static void ioapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)IOAPIC = reg;
    *(volatile uint32_t *)(uintptr_t)(IOAPIC + 0x10) = v;
}

static void on_lapic_timer(struct irq_frame *f)
{
    (void)f;
    lapic_ticks++;
    lapic_write(LAPIC_EOI, 0);
}

/* The UART through the IOAPIC: same handling, LAPIC EOI instead of the PIC. */
static void on_com1_ioapic(struct irq_frame *f)
{
    on_com1_body();
    lapic_write(LAPIC_EOI, 0);
    (void)f;
}

static bool wait_until(volatile bool *flag, volatile uint32_t *counter, uint32_t target)
{
    uint64_t end = rdtsc() + WAIT_CYCLES;
    while (rdtsc() < end) {
        if ((flag && *flag) || (counter && *counter >= target))
            return true;
        __asm__ volatile("pause");
    }
    return false;
}

void irq_checks(void)
{
    idt_init();
    __asm__ volatile("int3");
    check(irq_count[3] == 1, "irq: #BP (int3) through the IDT");
    idt_set_handler(6, skip_2_bytes);
    __asm__ volatile("ud2");
    check(irq_count[6] == 1, "irq: #UD (ud2) through the IDT, execution resumes");
    idt_set_handler(0, skip_2_bytes);
    uint32_t zero = 0;
    __asm__ volatile("xor %%edx, %%edx; mov $1, %%eax; divl %0" ::"c"(zero) : "eax", "edx");
    check(irq_count[0] == 1, "irq: #DE (divide by zero) through the IDT");
    __asm__ volatile("int $0x80");
    check(irq_count[0x80] == 1, "irq: int $0x80 through the IDT");

    idt_set_handler(PIC_VECTOR_BASE + 0, on_timer);
    idt_set_handler(PIC_VECTOR_BASE + COM1_IRQ, on_com1);
    pic_init((1u << 0) | (1u << COM1_IRQ));
    pit_start(1000);
    sti();
    bool ok = wait_until(NULL, &ticks, 20);
    pit_stop();
    print("irq: %u PIT ticks at vector 0x%x\n", ticks, PIC_VECTOR_BASE);
    check(ok, "irq: PIT ticks arrive on IRQ 0");

    /* Transmit by interrupt: enabling THRI raises it at once, and each
     * byte written re-arms it until the message is out. */
    outb(COM1 + 1, 0x02);
    ok = wait_until(NULL, &thre_events, sizeof tx_msg);
    check(ok && irq_count[PIC_VECTOR_BASE + COM1_IRQ] > 0,
          "irq: UART transmit interrupts send a line");

    /* The LAPIC timer, periodic, at its own vector. */
    lapic_write(LAPIC_SVR, 0x1ff);
    idt_set_handler(LAPIC_TIMER_VECTOR, on_lapic_timer);
    lapic_write(LAPIC_TIMER_DIV, 0x3);                  /* divide by 16 */
    lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | LAPIC_TIMER_VECTOR);
    lapic_write(LAPIC_TIMER_INIT, 100000);
    ok = wait_until(NULL, &lapic_ticks, 20);
    lapic_write(LAPIC_LVT_TIMER, 1u << 16);             /* masked */
    print("irq: %u LAPIC timer interrupts at vector 0x%x\n", lapic_ticks, LAPIC_TIMER_VECTOR);
    check(ok, "irq: LAPIC timer interrupts arrive");

    /* Receive by interrupt, routed through the IOAPIC this time: the PIC
     * is masked, pin 4 goes to its own vector. The host types a line
     * ending in '.'. */
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
    idt_set_handler(IOAPIC_VECTOR_BASE + COM1_IRQ, on_com1_ioapic);
    ioapic_write(0x10 + 2 * COM1_IRQ + 1, 0);           /* destination: APIC 0 */
    ioapic_write(0x10 + 2 * COM1_IRQ, IOAPIC_VECTOR_BASE + COM1_IRQ); /* edge, high, fixed */
    print("irq-rx: ready\n");
    outb(COM1 + 1, 0x01);
    ok = wait_until(&rx_done, NULL, 0);
    outb(COM1 + 1, 0x00);
    ioapic_write(0x10 + 2 * COM1_IRQ, 1u << 16);        /* masked again */
    cli();
    rx_buf[rx_len] = 0;
    print("irq-rx: %u receive interrupts via the IOAPIC, got '%s'\n", rx_events, rx_buf);
    check(ok && rx_events > 0 && rx_len > 0 && irq_count[IOAPIC_VECTOR_BASE + COM1_IRQ] > 0,
          "irq: UART receive interrupts arrive through the IOAPIC");
}
