#!/usr/bin/env bash
# Kernels, initrds and disks that are not what they seem: FIFOs and devices
# are refused without hanging, files that change while kvmbox reads them
# give an error and never a crash by signal, empty initrds boot in every
# format, and a multiboot kernel may load below 1 MiB (issue 10 items 3, 4,
# 6, 8, 22). Run alone: BUILD=build bash tests/integration/test_hostile_input.sh
: "${BUILD:=build}" "${GUEST_BUILD:=build/guest}"
export BUILD GUEST_BUILD
. "$(dirname "$0")/lib.sh"

# A refusal must come at once; a hang shows as status 124 from timeout.
LIMIT=20
mkfifo "$TMP/fifo"

# ---- Without /dev/kvm: all of this is refused before KVM is asked ----
K="$G/boot-pvh.elf"
kv run --kernel "$TMP/fifo"
expect "--kernel FIFO without a writer is refused, not waited on" 1 "" \
    "not a regular file or block device"
kv run --kernel /dev/zero
expect "--kernel character device is refused" 1 "" "not a regular file or block device"
if [ -f "$K" ]; then
    kv run --kernel "$K" --initrd "$TMP/fifo"
    expect "--initrd FIFO without a writer is refused, not waited on" 1 "" \
        "initrd: cannot open '$TMP/fifo': not a regular file or block device"
    kv run --kernel "$K" --disk path="$TMP/fifo",readonly=on
    expect "read-only --disk FIFO is refused, not waited on" 1 "" \
        "--disk $TMP/fifo: not a regular file or block device"
    kv run --kernel "$K" --disk path="$TMP/fifo"
    expect "read-write --disk FIFO is refused" 1 "" \
        "--disk $TMP/fifo: not a regular file or block device"
    kv run --kernel "$K" --disk path=/dev/zero,readonly=on
    expect "--disk character device is refused" 1 "" "not a regular file or block device"
else
    for n in "--initrd FIFO without a writer is refused, not waited on" \
             "read-only --disk FIFO is refused, not waited on" "read-write --disk FIFO is refused" \
             "--disk character device is refused"; do
        skip "$n" "test guests not built (make guests)"
    done
fi

# ---- With /dev/kvm ----
NAMES=("empty --initrd: bzImage boots without an initrd"
       "empty --initrd: PVH boots with a zero-length module"
       "empty --initrd: multiboot ELF boots with a zero-length module"
       "empty --initrd: multiboot a.out boots with a zero-length module"
       "multiboot ELF linked at 0x8000 boots, its bytes intact"
       "initrd shrinking and growing while read: a boot or a clear error, never a signal"
       "multiboot kernel rewritten in place while read: a boot or a clear error, never a signal"
       "bzImage whose header names an initrd: without --initrd the guest gets none")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi
if [ ! -f "$G/boot-multiboot-aout.bin" ]; then
    for n in "${NAMES[@]}"; do skip "$n" "test guests not built (make guests)"; done
    exit 0
fi
LIMIT=${KVMBOX_TEST_TIMEOUT:-60}
PASS="guest: all [0-9]+ checks passed"

# Item 8: before, the sanitizer build aborted on memcpy from NULL here.
: > "$TMP/empty"
printf 'kvmbox initrd\n' > "$TMP/rd"
M_EMPTY=$(mod_arg 0 "$TMP/empty")
M_RD=$(mod_arg 1 "$TMP/rd")
kv run --kernel "$G/boot-linux.bzImage" --initrd "$TMP/empty" --debug-exit \
   --cmdline "kvmbox-test expect_mods=0"
expect "${NAMES[0]}" 33 "$PASS"
i=1
for k in boot-pvh.elf boot-multiboot.elf boot-multiboot-aout.bin; do
    kv run --kernel "$G/$k" --initrd "$TMP/empty,$TMP/rd" --debug-exit \
       --cmdline "kvmbox-test expect_mods=2 $M_EMPTY $M_RD"
    expect "${NAMES[$i]}" 33 "$PASS"
    i=$((i + 1))
done

# Item 11: ramdisk_image and ramdisk_size (0x218, 0x21c) are the loader's
# to write; an image that carries values there must not pass them on.
cp "$G/boot-linux.bzImage" "$TMP/bz"
printf '\000\000\100\000\000\020\000\000' |
    dd of="$TMP/bz" bs=1 seek=$((0x218)) conv=notrunc status=none
kv run --kernel "$TMP/bz" --debug-exit --cmdline "kvmbox-test expect_mods=0"
expect "${NAMES[7]}" 33 "$PASS"

# Item 22: a multiboot kernel at 0x8000 (as kvm-unit-tests' realmode),
# 32 KiB long. It checks that EAX has the magic, that the multiboot info
# EBX points at lies outside its image, and that its own bytes survived
# kvmbox writing the boot data, then leaves with 42 (status 85), or 17
# (status 35) on a failed check.
if command -v as > /dev/null && command -v ld > /dev/null; then
    cat > "$TMP/low.S" <<'EOF'
    .code32
    .text
    .globl start
    .align 4
    .long 0x1BADB002, 0x00000003, -(0x1BADB002 + 0x00000003)
start:
    cmpl $0x2BADB002, %eax
    jne fail
    cmpl $image_end, %ebx
    jae 1f
    cmpl $0x8000, %ebx
    jae fail
1:  movl $pattern, %esi
    movl $((image_end - pattern) / 4), %ecx
2:  cmpl $0xa5a5a5a5, (%esi)
    jne fail
    addl $4, %esi
    loop 2b
    movb $42, %al
    outb %al, $0xf4
    hlt
fail:
    movb $17, %al
    outb %al, $0xf4
    hlt
    .align 4
pattern:
    .fill 8192, 4, 0xa5a5a5a5
image_end:
EOF
    # The same at 1 MiB, for the test after this.
    if as --32 -o "$TMP/low.o" "$TMP/low.S" 2> "$TMP/as.err" &&
       ld -m elf_i386 -N --build-id=none -Ttext=0x8000 -e start -o "$TMP/low.elf" "$TMP/low.o" \
          2>> "$TMP/as.err" &&
       ld -m elf_i386 -N --build-id=none -Ttext=0x100000 -e start -o "$TMP/high.elf" \
          "$TMP/low.o" 2>> "$TMP/as.err"; then
        kv run --kernel "$TMP/low.elf" --debug-exit
        expect "${NAMES[4]}" 85
    else
        not_ok "${NAMES[4]}" "$TMP/as.err"
    fi
else
    skip "${NAMES[4]}" "no assembler (binutils)"
fi

# Items 3 and 4: files that change under kvmbox. When it sees the change
# depends on timing, so the check is what must hold either way: the guest
# runs or kvmbox says what happened, and it never dies of a signal
# (before: SIGBUS, status 135, from the mapped initrd; SIGSEGV from the
# multiboot header found twice).
never_a_signal() {  # NAME GOOD-STATUS: over $TMP/status lines
    local name=$1 good=$2 bad=0 s
    while read -r s; do
        if [ "$s" -ne "$good" ] && [ "$s" -ne 1 ]; then
            echo "#   exit status $s"
            bad=1
        fi
    done < "$TMP/status"
    if [ "$bad" = 0 ]; then ok "$name"; else not_ok "$name" "$TMP/err"; fi
}

# The small kernel above takes the initrd as a module and never reads it
# (the test guests checksum theirs, slowly where guest code is emulated).
if [ -f "$TMP/high.elf" ]; then
    truncate -s 32M "$TMP/big"
    ( while :; do truncate -s 4M "$TMP/big"; truncate -s 32M "$TMP/big"; done ) &
    churn=$!
    : > "$TMP/status"
    for _ in 1 2 3 4 5 6 7 8; do
        kv run --kernel "$TMP/high.elf" --initrd "$TMP/big" --debug-exit
        echo "$rc" >> "$TMP/status"
        if [ "$rc" = 1 ] && ! grep -q "changed while being read" "$TMP/err"; then
            echo 99 >> "$TMP/status"   # an error, but not the one it should be
        fi
    done
    kill "$churn"; wait "$churn" 2> /dev/null
    never_a_signal "${NAMES[5]}" 85
else
    skip "${NAMES[5]}" "no small kernel (see above)"
fi

# The same file, its multiboot magic there and gone in turn (written in
# place, one aligned word): any read sees a header or none, so what may
# happen is a boot or "not a known kernel format".
cp "$G/boot-multiboot-aout.bin" "$TMP/mb"
MAGIC_AT=$(od -A d -t x4 -v -w4 "$TMP/mb" | awk '$2 == "1badb002" { print $1 / 4; exit }')
( while :; do
      printf '\0\0\0\0' | dd of="$TMP/mb" bs=4 seek="$MAGIC_AT" conv=notrunc status=none
      printf '\002\260\255\033' | dd of="$TMP/mb" bs=4 seek="$MAGIC_AT" conv=notrunc status=none
  done ) &
churn=$!
: > "$TMP/status"
for _ in 1 2 3 4 5 6; do
    kv run --kernel "$TMP/mb" --debug-exit --cmdline "kvmbox-test"
    echo "$rc" >> "$TMP/status"
done
kill "$churn"; wait "$churn" 2> /dev/null
never_a_signal "${NAMES[6]}" 33
