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

static volatile uint32_t ticks, thre_events, rx_events;
static volatile unsigned tx_pos, rx_len;
static volatile bool rx_done;
static char rx_buf[64];
static const char tx_msg[] = "irq-tx: this line was sent by THRE interrupts\n";

static void skip_2_bytes(struct irq_frame *f) { f->rip += 2; }  /* ud2, div %ecx */
static void on_timer(struct irq_frame *f) { (void)f; ticks++; pic_eoi(0); }

static void on_com1(struct irq_frame *f)
{
    (void)f;
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
    pic_eoi(COM1_IRQ);
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

    /* Receive by interrupt: the host types a line ending in '.'. */
    print("irq-rx: ready\n");
    outb(COM1 + 1, 0x01);
    ok = wait_until(&rx_done, NULL, 0);
    outb(COM1 + 1, 0x00);
    cli();
    rx_buf[rx_len] = 0;
    print("irq-rx: %u receive interrupts, got '%s'\n", rx_events, rx_buf);
    check(ok && rx_events > 0 && rx_len > 0, "irq: UART receive interrupts deliver input");
}
