#!/usr/bin/env bash
# The test lab: kvmbox on a /dev/kvm with hardware-virtualization semantics.
# A Debian kernel runs under QEMU's software emulation (-accel tcg -cpu max,
# which offers AMD SVM with nested paging) and loads kvm-amd; kvmbox and its
# guests run inside it. Any test can say "run this in the lab":
#
#   lab.sh run [-t SECONDS] [-q] [-f FILE]... COMMAND-LINE
#       Runs COMMAND-LINE (sh syntax) in the lab's /lab directory, with
#       kvmbox as /lab/kvmbox, the test guests in /lab/guest, the nested
#       Linux as /lab/vmlinuz + /lab/guest-initrd.gz, and each FILE copied
#       into /lab. -q also brings QEMU (as /usr/bin/qemu-system-x86_64, with
#       its firmware) for side-by-side measurements. Prints its output; exits with its status, 124 if the time
#       limit (default 600 s) passed, 125 if the lab itself did not come up.
#   lab.sh build
#       (Re)builds the lab's base initramfs; `run` does this when needed.
#
# Environment: BUILD (build), GUEST_BUILD (build/guest), LAB_DIR (build/lab,
# filled by fetch.sh), LAB_MEM (3G), LAB_CPUS (2), QEMU (qemu-system-x86_64),
# LAB_QEMU_ARGS (more QEMU arguments: "-monitor unix:SOCKET,server,nowait"
# lets you read a stuck lab's CPUs; docs/lab.md). While it runs, the lab's
# console grows in the run's temporary directory as console.raw.
set -uo pipefail
here=$(dirname "$(realpath "$0")")
root=$(realpath "$here/../..")
BUILD=$(realpath -m "${BUILD:-$root/build}")
GUEST_BUILD=$(realpath -m "${GUEST_BUILD:-$root/build/guest}")
LAB_DIR=$(realpath -m "${LAB_DIR:-$root/build/lab}")
QEMU=${QEMU:-qemu-system-x86_64}
base=$LAB_DIR/lab-base-$(basename "$BUILD").cpio

die() { echo "lab: $*" >&2; exit 125; }

mkcpio() { (cd "$1" && find . | "$LAB_DIR/busybox" cpio -o -H newc 2>/dev/null); }

# Copies a binary and the shared libraries it needs into the root.
add_binary() {
    local bin=$1 dest=$2 lib
    install -D -m 755 "$bin" "$r$dest"
    for lib in $(ldd "$bin" 2>/dev/null | awk '/=> \//{print $3} /^\t\/.*ld-linux/{print $1}'); do
        [ -e "$r$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$r$lib"
    done
}

build() {
    [ -f "$LAB_DIR/vmlinuz" ] && [ -x "$LAB_DIR/busybox" ] ||
        die "no lab kernel in $LAB_DIR (run: make guest-linux)"
    [ -x "$BUILD/kvmbox" ] || die "no $BUILD/kvmbox (run: make)"
    r=$(mktemp -d)
    mkdir -p "$r"/{bin,usr/bin,proc,sys,dev,tmp,lib/modules,lab/guest}
    cp "$LAB_DIR/busybox" "$r/bin/busybox"
    for a in $("$LAB_DIR/busybox" --list); do
        [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"
    done
    local k=$LAB_DIR/modules/kernel
    # loop: so that lab tests can mount a disk image a guest has written;
    # tun: so that they can give a guest a TAP.
    cp "$k/virt/lib/irqbypass.ko" "$k/arch/x86/kvm/kvm.ko" "$k/arch/x86/kvm/kvm-amd.ko" \
       "$k/drivers/block/loop.ko" "$k/drivers/net/tun.ko" "$r/lib/modules/"
    add_binary "$BUILD/kvmbox" /lab/kvmbox
    # kvmbox loads libslirp (and glib with it) with dlopen for --net user,
    # so ldd does not name it: bring it, and what it needs, along.
    local slirp
    slirp=$(ldconfig -p | awk '/libslirp\.so\.0 .*x86-64/ { print $NF; exit }')
    [ -n "$slirp" ] && add_binary "$slirp" "$slirp"
    # The lab's own helper (see kvm-pin.c), built here so that lab.sh needs
    # nothing from the Makefile beyond kvmbox and the test guests.
    mkdir -p "$BUILD/lab-tools"
    "${CC:-cc}" -std=gnu11 -O2 -Wall -Wextra -Werror -o "$BUILD/lab-tools/kvm-pin" "$here/kvm-pin.c" ||
        die "cannot build kvm-pin"
    add_binary "$BUILD/lab-tools/kvm-pin" /bin/kvm-pin
    cp "$GUEST_BUILD"/*.elf "$GUEST_BUILD"/*.bzImage "$GUEST_BUILD"/*.bin "$r/lab/guest/"
    cp "$LAB_DIR/vmlinuz" "$LAB_DIR/guest-initrd.gz" "$r/lab/"
    install -m 755 "$here/lab-init.sh" "$r/init"
    mkcpio "$r" > "$base.tmp" && mv "$base.tmp" "$base"
    rm -rf "$r"
}

stale() {
    [ ! -f "$base" ] && return 0
    [ -n "$(find "$BUILD/kvmbox" "$GUEST_BUILD" "$LAB_DIR/guest-initrd.gz" "$here/lab-init.sh" "$here/lab.sh" \
            "$here/kvm-pin.c" \
            -newer "$base" 2>/dev/null | head -1)" ]
}

run() {
    local limit=600 files=() qemu_too=0 OPTIND opt
    while getopts "t:f:q" opt; do
        case $opt in
        t) limit=$OPTARG ;;
        q) qemu_too=1 ;;
        f) files+=("$OPTARG") ;;
        *) die "usage: lab.sh run [-t SECONDS] [-f FILE]... COMMAND-LINE" ;;
        esac
    done
    shift $((OPTIND - 1))
    [ $# -ge 1 ] || die "usage: lab.sh run [-t SECONDS] [-f FILE]... COMMAND-LINE"
    command -v "$QEMU" >/dev/null || die "$QEMU is not installed (make deps)"
    if stale; then build || exit 125; fi

    local w
    w=$(mktemp -d)
    trap 'rm -rf "$w"' RETURN
    mkdir -p "$w/r/lab"
    printf '%s\n' "$*" > "$w/r/lab/cmd.sh"
    for f in "${files[@]}"; do cp "$f" "$w/r/lab/"; done
    if [ $qemu_too = 1 ]; then
        r=$w/r
        add_binary "$(command -v "$QEMU")" /usr/bin/qemu-system-x86_64
        mkdir -p "$r/usr/share/qemu"
        for fw in qboot.rom bios-microvm.bin linuxboot_dma.bin pvh.bin; do
            cp -L "/usr/share/qemu/$fw" "$r/usr/share/qemu/" 2>/dev/null || true
        done
    fi
    # Linux unpacks concatenated cpio archives in order: the base, then
    # this run's command and files.
    { cat "$base"; mkcpio "$w/r"; } > "$w/initrd"

    timeout -k 10 "$limit" "$QEMU" -accel tcg,thread=multi -cpu max -smp "${LAB_CPUS:-2}" \
        -m "${LAB_MEM:-3G}" -nodefaults -no-user-config -display none -serial stdio \
        -no-reboot -kernel "$LAB_DIR/vmlinuz" -initrd "$w/initrd" \
        -append "console=ttyS0 panic=-1 quiet maxcpus=1" ${LAB_QEMU_ARGS:-} < /dev/null > "$w/console.raw" 2>&1
    local qrc=$?
    tr -d '\r' < "$w/console.raw" > "$w/console"

    if ! grep -q '^@@LAB-BEGIN@@' "$w/console"; then
        echo "lab: the lab did not come up (QEMU status $qrc); its console ended with:" >&2
        tail -20 "$w/console" | sed 's/^/lab:   /' >&2
        return 125
    fi
    sed -n '/^@@LAB-BEGIN@@/,/^@@LAB-EXIT/p' "$w/console" | sed '1d;/^@@LAB-EXIT/d'
    local status
    status=$(sed -n 's/^@@LAB-EXIT \([0-9]*\)@@.*/\1/p' "$w/console" | tail -1)
    if [ -z "$status" ]; then
        echo "lab: the command did not finish within ${limit} s" >&2
        return 124
    fi
    return "$status"
}

case "${1:-}" in
build) build ;;
run) shift; run "$@" ;;
*) die "usage: lab.sh build | lab.sh run [-t SECONDS] [-f FILE]... COMMAND-LINE" ;;
esac
