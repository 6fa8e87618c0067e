/* The 32-bit entries (PVH and multiboot): record the entry state, build
 * identity page tables for 4 GiB, switch to long mode and call the C code.
 * This is the test runtime's long-mode setup. */
#include "boot_state.h"
#include "long_mode.h"

    .code32
    .text
    .globl entry_pvh
entry_pvh:
    movl $KIND_PVH, boot_state+BS_KIND
    jmp entry32

    .globl entry_multiboot
entry_multiboot:
    movl $KIND_MULTIBOOT, boot_state+BS_KIND
    jmp entry32

entry32:
    movl %eax, boot_state+BS_RAX
    movl %ebx, boot_state+BS_RBX
    movl %esi, boot_state+BS_RSI
    movl %cr0, %eax
    movl %eax, boot_state+BS_CR0
    movl %cr4, %eax
    movl %eax, boot_state+BS_CR4
    movl $0xc0000080, %ecx
    rdmsr
    movl %eax, boot_state+BS_EFER
    movl %edx, boot_state+BS_EFER+4
    movw %cs, %ax
    movzwl %ax, %eax
    movl %eax, boot_state+BS_CS
    movl $stack32_top, %esp     /* neither protocol promises a stack */
    pushfl
    popl %eax
    movl %eax, boot_state+BS_RFLAGS

    /* PML4[0] -> PDPT; PDPT[0..3] -> PD0..3; 2048 2 MiB pages. */
    movl $pdpt + 3, pml4
    movl $pd + 0x0003, pdpt
    movl $pd + 0x1003, pdpt + 8
    movl $pd + 0x2003, pdpt + 16
    movl $pd + 0x3003, pdpt + 24
    xorl %ecx, %ecx
1:  movl %ecx, %eax
    shll $21, %eax
    orl $0x83, %eax             /* present, writable, 2 MiB */
    movl %eax, pd(,%ecx,8)
    movl $0, pd+4(,%ecx,8)
    incl %ecx
    cmpl $2048, %ecx
    jb 1b

    lgdt gdt_desc
    movl $pml4, %eax
    enter_long_mode
    ljmp $0x08, $long_mode

    .code64
long_mode:
    movl $0x10, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movw %ax, %fs
    movw %ax, %gs
    leaq stack32_top(%rip), %rsp
    call guest_main
    jmp guest_hang

    .section .rodata
    .balign 8
gdt:
    .quad 0
    .quad GDT64_CODE
    .quad GDT64_DATA
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long gdt

    .bss
    .balign 4096
pml4: .skip 4096
pdpt: .skip 4096
pd:   .skip 4 * 4096
stack32: .skip STACK_SIZE
stack32_top:
