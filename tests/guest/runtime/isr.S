/* 64-bit interrupt entry stubs for all 256 vectors. Each pushes a dummy
 * error code where the CPU pushes none, then its vector, and joins the
 * common path, which saves the general registers and calls isr_dispatch. */
    .code64
    .text

    .altmacro
    /* Vectors 8, 10-14, 17, 21, 29 and 30 come with an error code. */
    .macro stub v
    .balign 16
isr_stub_\v:
    .if !((\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30))
    pushq $0
    .endif
    pushq $\v
    jmp isr_common
    .endm

    .globl isr_stubs
    .balign 16
isr_stubs:
    .set v, 0
    .rept 256
    stub %v
    .set v, v + 1
    .endr

isr_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi
    cld
    call isr_dispatch
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp              /* vector and error code */
    iretq
