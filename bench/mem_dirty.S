/* The snapshot benchmark's guest (bench/snapshot): a PVH kernel in flat
 * 32-bit mode with paging off, so every address is guest-physical. It
 * writes 'K' to COM1, fills TOUCH_MIB MiB from 16 MiB up with a non-zero
 * pattern (so a snapshot cannot skip those pages as zero), writes 'T',
 * then loops forever writing a heartbeat 'h' to COM1 every HEARTBEAT
 * iterations: after a restore, the first 'h' is the guest running again.
 * TOUCH_MIB is given at build time (-DTOUCH_MIB=N): one guest per size,
 * since a bare PVH kernel has no easy way to read a parameter. */
#ifndef TOUCH_MIB
#error "build with -DTOUCH_MIB=N"
#endif
#define BASE      0x01000000            /* 16 MiB: clear of the kernel and tables */
#define HEARTBEAT (1 << 8)              /* loop iterations between heartbeats */

    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 4, 18
    .asciz "Xen"
    .long mem_dirty_entry

    .text
    .code32
    .globl mem_dirty_entry
mem_dirty_entry:
    movw $0x3f8, %dx
    movb $'K', %al
    outb %al, %dx

    /* One string instruction, not a loop: where guest code is emulated
     * instruction by instruction, a rep stos is far fewer of them. */
    cld
    movl $BASE, %edi
    movl $(TOUCH_MIB * (1 << 20) / 4), %ecx
    movl $0x5a5a5a5a, %eax
    rep stosl

    movw $0x3f8, %dx
    movb $'T', %al
    outb %al, %dx

    movb $'h', %al
1:  movl $HEARTBEAT, %ecx
2:  decl %ecx
    jnz 2b
    outb %al, %dx
    jmp 1b
