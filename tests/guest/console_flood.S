/* A guest that floods its console as fast as a guest can: a PVH kernel
 * whose only work is `rep outsb` of 4 KiB blocks of text to COM1. After
 * FLOOD_BYTES (six times kvmbox's 256 KiB console ring, so that a buffer
 * without a bound would show in kvmbox's memory) it writes 0x10 to the
 * debug-exit port: with --debug-exit, kvmbox ends with status 33, proving
 * the guest never waited for a reader; without, it floods on until
 * stopped. Its own loop, not the test guest's print: it needs no boot
 * checks first and no status read per byte, so it writes about three
 * times faster where guest code is emulated (an exit per byte still).
 * tests/integration/test_limits.sh runs it. */
#define COM1 0x3f8
#define DEBUG_EXIT 0xf4
#define BLOCK 4096
#define FLOOD_BYTES (1536 * 1024)

    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 4, 18
    .asciz "Xen"
    .long console_flood_entry

    .text
    .code32
    .globl console_flood_entry
console_flood_entry:
    /* PVH enters with flat 32-bit segments and paging off: the block's
     * link address is its address. Fill it with lines of text (no stack:
     * PVH promises none). */
    cld
    movl $block, %edi
    movl $BLOCK / 64, %ebx
1:  movl $line, %esi
    movl $64, %ecx
    rep movsb
    decl %ebx
    jnz 1b
    movw $COM1, %dx
2:  movl $FLOOD_BYTES / BLOCK, %ebx
3:  movl $block, %esi
    movl $BLOCK, %ecx
    rep outsb
    decl %ebx
    jnz 3b
    movw $DEBUG_EXIT, %dx
    movb $0x10, %al
    outb %al, %dx
    movw $COM1, %dx
    jmp 2b

    .section .rodata
line:
    .ascii "flood: console output that nobody reads, as fast as a guest can\n"

    .bss
    .balign 16
block:
    .skip BLOCK
