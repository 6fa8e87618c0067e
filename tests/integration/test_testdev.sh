#!/usr/bin/env bash
# --testdev from a guest's side: a tiny multiboot kernel, assembled here,
# drives pc-testdev's latch, flush port, interrupt-line ports and MMIO
# buffer and reports through the debug-exit port. Without --testdev the
# same guest sees nobody at the latch.
. "$(dirname "$0")/lib.sh"

NAMES=("--testdev: latch, MMIO buffer, flush and IRQ ports answer the guest"
       "no --testdev: nothing at the testdev ports")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi
if ! command -v as >/dev/null || ! command -v ld >/dev/null; then
    for n in "${NAMES[@]}"; do skip "$n" "needs as and ld (binutils)"; done
    exit 0
fi

# Exit codes (debug-exit V gives status (V << 1) | 1): 21 all good,
# 1 the latch did not read back, 2 the MMIO buffer did not, 3 the flushed
# page lost its contents.
cat > "$TMP/td.S" <<'ASM'
    .code32
    .text
    .globl _start
    .align 4
    .long 0x1BADB002, 0, -0x1BADB002     # multiboot header, no flags
_start:
    movl $0x12345678, %eax
    outl %eax, $0xe0
    inb $0xe2, %al                       # third byte of the latch
    cmpb $0x34, %al
    jne bad_latch
    movw $0xbeef, %ax
    outw %ax, $0xea                      # the string-I/O alias, bytes 2-3
    inl $0xe0, %eax
    cmpl $0xbeef5678, %eax
    jne bad_latch
    movl $0xa5c3e10f, 0xff000010         # MMIO buffer
    cmpl $0xa5c3e10f, 0xff000010
    jne bad_mmio
    movl $0x5aa55aa5, data
    movl $data, %eax
    outl %eax, $0xe4                     # flush the page holding `data`
    cmpl $0x5aa55aa5, data
    jne bad_flush
    movw $0x200e, %dx                    # raise and lower line 14 (masked)
    movb $1, %al
    outb %al, %dx
    movb $0, %al
    outb %al, %dx
    movl $21, %eax
    jmp done
bad_latch:
    movl $1, %eax
    jmp done
bad_mmio:
    movl $2, %eax
    jmp done
bad_flush:
    movl $3, %eax
done:
    outl %eax, $0xf4
    hlt
    .data
    .align 4096
data:
    .long 0
ASM
if ! as --32 -o "$TMP/td.o" "$TMP/td.S" 2> "$TMP/as.err" ||
   ! ld -m elf_i386 -Ttext=0x101000 -e _start -o "$TMP/td.elf" "$TMP/td.o" 2>> "$TMP/as.err"; then
    for n in "${NAMES[@]}"; do not_ok "$n" "$TMP/as.err"; done
    exit 0
fi

kv run --kernel "$TMP/td.elf" --testdev --debug-exit
expect "${NAMES[0]}" 43

# Without the device the latch reads all-ones: the guest reports 1.
kv run --kernel "$TMP/td.elf" --debug-exit
expect "${NAMES[1]}" 3
