/* The snapshot benchmark's guest (bench/snapshot): a PVH kernel in flat
 * 32-bit mode with paging off, so every address is guest-physical. It
 * writes 'K' to COM1, fills TOUCH_MIB MiB from 16 MiB up with a non-zero
 * pattern (so a snapshot cannot skip those pages as zero), writes 'T',
 * then loops forever writing a heartbeat 'h' to COM1 every HEARTBEAT
 * iterations: after a restore, the first 'h' is the guest running again.
 * TOUCH_MIB is given at build time (-DTOUCH_MIB=N): one guest per size,
 * since a bare PVH kernel has no easy way to read a parameter.
 *
 * With -DREWRITE_MIB=M (the migration benchmark, bench/migrate), the guest
 * also keeps dirtying memory: before each heartbeat it writes a word into
 * each of the next REWRITE_PAGES pages of the M MiB from 16 MiB up, going
 * round and round, and writes 'P' at the end of each round. A page is what
 * a VMM's dirty log tracks, so one word dirties it; the heartbeat stays
 * frequent (a tick's pages, not all M MiB, lie between two), so the gaps
 * between heartbeats still time a migration's pause finely. */
#ifndef TOUCH_MIB
#error "build with -DTOUCH_MIB=N"
#endif
#ifndef REWRITE_MIB
#define REWRITE_MIB 0
#endif
#define BASE      0x01000000            /* 16 MiB: clear of the kernel and tables */
#define HEARTBEAT (1 << 8)              /* loop iterations between heartbeats */
#define REWRITE_PAGES 16                /* pages dirtied between heartbeats */

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

#if REWRITE_MIB
    movl $BASE, %edi                    /* the next page to dirty */
    movl $0x01010101, %ebx              /* what this round writes: never zero */
#endif
    movb $'h', %al
1:  movl $HEARTBEAT, %ecx
2:  decl %ecx
    jnz 2b
#if REWRITE_MIB
    movl $REWRITE_PAGES, %esi
3:  movl %ebx, (%edi)
    addl $4096, %edi
    cmpl $(BASE + REWRITE_MIB * (1 << 20)), %edi
    jb 4f
    movl $BASE, %edi                    /* a round is done: the next writes anew */
    incl %ebx
    movb $'P', %al
    outb %al, %dx
    movb $'h', %al
4:  decl %esi
    jnz 3b
#endif
    outb %al, %dx
    jmp 1b
