#include "interrupts.h"

#include "guest.h"

struct __attribute__((packed)) idt_gate {
    uint16_t off_lo, sel;
    uint8_t ist, type;
    uint16_t off_mid;
    uint32_t off_hi, zero;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));
static irq_handler handlers[256];
volatile uint32_t irq_count[256];

extern char isr_stubs[];

void isr_dispatch(struct irq_frame *f);
void isr_dispatch(struct irq_frame *f)
{
    irq_count[f->vector & 0xff]++;
    if (handlers[f->vector & 0xff])
        handlers[f->vector & 0xff](f);
}

void idt_init(void)
{
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));  /* 0x10 or 0x08, by entry path */
    for (unsigned v = 0; v < 256; v++) {
        uint64_t a = (uint64_t)(uintptr_t)(isr_stubs + 16 * v);
        idt[v] = (struct idt_gate){ (uint16_t)a, cs, 0, 0x8e, (uint16_t)(a >> 16),
                                    (uint32_t)(a >> 32), 0 };
    }
    idt_load();
}

void idt_load(void)
{
    struct __attribute__((packed)) { uint16_t limit; uint64_t base; } d = {
        sizeof idt - 1, (uint64_t)(uintptr_t)idt
    };
    __asm__ volatile("lidt %0" ::"m"(d));
}

void idt_set_handler(unsigned vector, irq_handler h) { handlers[vector & 0xff] = h; }

void pic_init(uint16_t unmasked)
{
    outb(0x20, 0x11);                       /* ICW1: edge, cascade, ICW4 */
    outb(0xa0, 0x11);
    outb(0x21, PIC_VECTOR_BASE);            /* ICW2: vector bases */
    outb(0xa1, PIC_VECTOR_BASE + 8);
    outb(0x21, 0x04);                       /* ICW3: slave on IRQ 2 */
    outb(0xa1, 0x02);
    outb(0x21, 0x01);                       /* ICW4: 8086 mode */
    outb(0xa1, 0x01);
    outb(0x21, (uint8_t)~unmasked);
    outb(0xa1, (uint8_t)~(unmasked >> 8));
}

void pic_eoi(unsigned irq)
{
    if (irq >= 8)
        outb(0xa0, 0x20);
    outb(0x20, 0x20);
}

void pit_start(unsigned hz)
{
    unsigned divisor = 1193182 / hz;
    outb(0x43, 0x34);                       /* channel 0, lo/hi, mode 2 */
    outb(0x40, (uint8_t)divisor);
    outb(0x40, (uint8_t)(divisor >> 8));
}

void pit_stop(void)
{
    outb(0x43, 0x30);                       /* mode 0, no reload: one last count */
    outb(0x40, 0);
    outb(0x40, 0);
}
