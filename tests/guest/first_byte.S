/* The startup benchmark's guest: a PVH kernel whose first instructions
 * write 'K' to COM1 and then spin, so that exec-to-first-byte measures the
 * VMM and not the guest (guest code is slow where /dev/kvm emulates it). */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 4, 18
    .asciz "Xen"
    .long first_byte_entry

    .text
    .code32
    .globl first_byte_entry
first_byte_entry:
    movw $0x3f8, %dx
    movb $'K', %al
    outb %al, %dx
1:  pause
    jmp 1b
