/* Head of the bzImage test guest's protected-mode payload, loaded at
 * 1 MiB: the 32-bit entry at offset 0 (unused by kvmbox) and the 64-bit
 * entry at offset 0x200, as the Linux boot protocol lays them out. */
#include "boot_state.h"

    .section .head, "ax"
    .code32
    .globl startup_32
startup_32:
    /* kvmbox always enters at startup_64; reaching here is a loader bug. */
    movl $0x7f, %eax
    outl %eax, $0xf4
    ud2

    .org 0x200
    .code64
    .globl startup_64
startup_64:
    movq %rax, boot_state+BS_RAX(%rip)
    movq %rbx, boot_state+BS_RBX(%rip)
    movq %rsi, boot_state+BS_RSI(%rip)
    movq %cr0, %rax
    movq %rax, boot_state+BS_CR0(%rip)
    movq %cr4, %rax
    movq %rax, boot_state+BS_CR4(%rip)
    movl $0xc0000080, %ecx
    rdmsr
    shlq $32, %rdx
    orq %rdx, %rax
    movq %rax, boot_state+BS_EFER(%rip)
    movw %cs, %ax
    movzwq %ax, %rax
    movq %rax, boot_state+BS_CS(%rip)
    pushfq
    popq %rax
    movq %rax, boot_state+BS_RFLAGS(%rip)
    movq $KIND_LINUX64, boot_state+BS_KIND(%rip)
    leaq stack_top(%rip), %rsp
    call guest_main
    jmp guest_hang

    .bss
    .balign 16
stack:
    .skip STACK_SIZE
stack_top:
