/* Assembler only: what every way into long mode shares (entry32.S from
 * 32-bit protected mode, trampoline.S from real mode). */
#ifndef GUEST_LONG_MODE_H
#define GUEST_LONG_MODE_H

#define GDT64_CODE 0x00af9a000000ffff   /* selector 0x08 */
#define GDT64_DATA 0x00cf92000000ffff   /* selector 0x10 */

/* With the PML4's address in EAX and paging off: load CR3, turn on PAE and
 * EFER.LME, then PE|PG. The caller's next instruction must be the far
 * jump into a 64-bit code segment. Clobbers EAX, ECX, EDX. */
.macro enter_long_mode
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax                      /* PAE */
    movl %eax, %cr4
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax                     /* EFER.LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax                /* PG | PE */
    movl %eax, %cr0
.endm

#endif
