/* The huge-page benchmark's guest (bench/startup): a PVH kernel, in flat
 * 32-bit mode with paging off, so every address it uses is guest-physical
 * and only the host's page size decides how much one TLB entry covers.
 * It writes 'K' to COM1, touches every 4 KiB page of 256 MiB from 16 MiB
 * up, writes 'T', reads READS (256K) pseudo-random cache lines of that
 * range (a walk that misses the TLB on almost every read with 4 KiB host
 * pages), writes 'D' and spins, so the bench can read its smaps. */
#define BASE    0x01000000              /* 16 MiB: clear of the kernel and tables */
#define SIZE    0x10000000              /* 256 MiB */
#define READS   (1 << 18)

    .section .note.Xen, "a", @note
    .balign 4
    .long 4, 4, 18
    .asciz "Xen"
    .long mem_touch_entry

    .text
    .code32
    .globl mem_touch_entry
mem_touch_entry:
    movw $0x3f8, %dx
    movb $'K', %al
    outb %al, %dx

    movl $BASE, %edi
1:  movl %edi, (%edi)
    addl $4096, %edi
    cmpl $(BASE + SIZE), %edi
    jb 1b
    movb $'T', %al
    outb %al, %dx

    /* x = x * 1103515245 + 12345 (mod 2^32); read BASE + (x & (SIZE-1) & ~63). */
    movl $READS, %ecx
    movl $1, %ebx
    xorl %esi, %esi
2:  imull $1103515245, %ebx, %ebx
    addl $12345, %ebx
    movl %ebx, %edi
    andl $((SIZE - 1) & ~63), %edi
    addl BASE(%edi), %esi
    decl %ecx
    jnz 2b
    movb $'D', %al
    outb %al, %dx
3:  pause
    jmp 3b
