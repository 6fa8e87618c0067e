/* Interrupts for the test guests that take them (the lab tier): a 64-bit
 * IDT over runtime/isr.S, the 8259 PICs and the PIT. */
#ifndef GUEST_INTERRUPTS_H
#define GUEST_INTERRUPTS_H

#include <stdint.h>

struct irq_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error, rip, cs, rflags, rsp, ss;
};

typedef void (*irq_handler)(struct irq_frame *f);

#define PIC_VECTOR_BASE 0x20    /* IRQ n arrives at vector 0x20 + n */

extern volatile uint32_t irq_count[256];

void idt_init(void);
/* Loads the IDT idt_init built: how another CPU starts using it. */
void idt_load(void);
void idt_set_handler(unsigned vector, irq_handler h);
/* Remaps both PICs to PIC_VECTOR_BASE and unmasks the given IRQ lines. */
void pic_init(uint16_t unmasked);
void pic_eoi(unsigned irq);
/* PIT channel 0, rate generator, `hz` interrupts a second on IRQ 0. */
void pit_start(unsigned hz);
void pit_stop(void);

static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

#endif
