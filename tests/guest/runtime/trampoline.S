/* The application processors' way in: a real-mode blob that smp.c copies
 * to a 4 KiB-aligned address below 1 MiB and names in the SIPI. It goes
 * straight to long mode (PAE, the BSP's CR3, EFER.LME, then PE|PG at once),
 * takes the next stack, and jumps to ap_entry. Position-independent in real
 * mode: everything is addressed from CS; the blob's linear base is patched
 * into the GDT descriptor and the far jump by smp.c. */
#include "long_mode.h"

    .section .rodata
    .globl trampoline_start, trampoline_end
    .globl tramp_cr3, tramp_gdt_base, tramp_jump_target, tramp_entry, tramp_stacks
    .balign 16
trampoline_start:
    .code16
    cli
    movw %cs, %ax
    movw %ax, %ds
    lgdtl tramp_gdt_desc - trampoline_start
    movl tramp_cr3 - trampoline_start, %eax
    enter_long_mode                      /* real mode straight to long mode */
    ljmpl *(tramp_far - trampoline_start)
    .code64
tramp_long:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    /* Stack: tramp_stacks + (n + 1) * 16 KiB for the n-th AP to arrive. */
    movl $1, %eax
    lock xaddl %eax, tramp_stack_next(%rip)
    incl %eax
    shlq $14, %rax
    addq tramp_stacks(%rip), %rax
    movq %rax, %rsp
    jmp *tramp_entry(%rip)

    .balign 8
tramp_far:                               /* ljmpl operand: offset, selector */
tramp_jump_target: .long 0               /* linear address of tramp_long */
    .word 0x08
    .balign 8
tramp_gdt:
    .quad 0
    .quad GDT64_CODE
    .quad GDT64_DATA
tramp_gdt_desc:
    .word tramp_gdt_desc - tramp_gdt - 1
tramp_gdt_base: .long 0                  /* linear address of tramp_gdt */
    .balign 8
tramp_cr3: .quad 0
tramp_entry: .quad 0
tramp_stacks: .quad 0
tramp_stack_next: .long 0
trampoline_end:

    .globl tramp_long_offset, tramp_gdt_offset
    .set tramp_long_offset, tramp_long - trampoline_start
    .set tramp_gdt_offset, tramp_gdt - trampoline_start
