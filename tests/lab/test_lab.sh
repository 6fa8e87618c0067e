#!/usr/bin/env bash
# The lab tests: one lab boot (tests/lab/lab.sh) in which the host-tier test
# guests run again on hardware-virtualization semantics, and the stock
# Debian kernel boots under kvmbox to its init. Reports ok/not ok/skip lines.
here=$(dirname "$(realpath "$0")")
. "$here/../integration/lib.sh"
LAB_DIR=${LAB_DIR:-build/lab}
export LAB_DIR
LAB_LINUX_RUNS="256M:1"
[ "${LAB_FULL:-0}" = 1 ] && LAB_LINUX_RUNS="256M:1 512M:1 512M:2 512M:4"

NAMES=("lab: the lab comes up with a hardware-semantics /dev/kvm")
if ! command -v qemu-system-x86_64 >/dev/null; then
    skip "${NAMES[0]}" "qemu-system-x86_64 is not installed (make deps)"; exit 0
fi
# fetch.sh keeps what is there and rebuilds the guest initramfs when its
# init script changed.
if ! "$here/fetch.sh" "$LAB_DIR" > "$TMP/fetch" 2>&1; then
    skip "${NAMES[0]}" "cannot fetch Debian's kernel: $(tail -1 "$TMP/fetch")"; exit 0
fi

# Disks for the virtio test: an ext4 image made with mke2fs -d holding a
# random file, and a small raw disk given read-only with a serial.
head -c 300000 /dev/urandom > "$TMP/data.bin"
DATA_MD5=$(md5sum < "$TMP/data.bin" | cut -d' ' -f1)
mkdir -p "$TMP/diskroot" && cp "$TMP/data.bin" "$TMP/diskroot/"
DISK_OK=1
mke2fs -q -t ext4 -d "$TMP/diskroot" "$TMP/disk.img" 16M > "$TMP/mke2fs" 2>&1 || DISK_OK=0
truncate -s 1M "$TMP/ro.img"

printf 'kvmbox initrd\n' > "$TMP/rd0"
head -c 5000 /dev/urandom > "$TMP/rd1"
M0=$(mod_arg 0 "$TMP/rd0") M1=$(mod_arg 1 "$TMP/rd1") M1AS0=$(mod_arg 0 "$TMP/rd1")

# Runs in the lab's busybox sh. t NAME STATUS REGEX KVMBOX-ARGS...
cat > "$TMP/in-lab.sh" <<IN
LAB_FULL=${LAB_FULL:-0}
t() {
    name=\$1 want=\$2 pat=\$3; shift 3
    echo "# \$(cut -d' ' -f1 /proc/uptime) start: \$name"
    # 60 s is ten times what any of these takes here; a hang shows up as
    # status 143 (kvmbox answered SIGTERM) or 124 (it did not), with output.
    timeout 60 ./kvmbox "\$@" > /tmp/out 2> /tmp/err < /dev/null; rc=\$?
    echo "# \$(cut -d' ' -f1 /proc/uptime) done: \$name (status \$rc)"
    if [ \$rc -eq \$want ] && grep -Eq "\$pat" /tmp/out /tmp/err; then
        echo "ok - lab: \$name"
    else
        echo "not ok - lab: \$name"; echo "#   status \$rc, expected \$want, /\$pat/"
        tail -n 15 /tmp/out /tmp/err | sed 's/^/#   /'
    fi
}
PASS='guest: all [0-9]+ checks passed'
# boot_linux KVMBOX-RUN-ARGS...: the stock kernel under kvmbox, output in
# /tmp/out and /tmp/err, status in rc. A boot that times out is tried
# again, up to three times, its output kept in the log: with two or more
# vCPUs about 1 boot in 3 stalls inside the nested kernel (an RCU stall
# while the lab's other CPU idles; docs/lab.md), with one vCPU it is rare.
# A kvmbox failure that is not a time-out is never retried.
# With TYPE_AFTER="MARKER|TEXT", TEXT is typed into kvmbox's stdin once
# the guest has printed MARKER (input that comes before the guest opened
# its console is lost, on real consoles too).
type_after() {
    exec 3> /tmp/in
    for i in \$(seq 900); do grep -q "\${1%%|*}" /tmp/out && break; sleep 0.1; done
    printf '%s\n' "\${1#*|}" >&3
}
boot_linux() {
    for attempt in 1 2 3; do
        stdin=/dev/null typer=
        if [ -n "\${TYPE_AFTER:-}" ]; then
            rm -f /tmp/in; mkfifo /tmp/in; stdin=/tmp/in
            type_after "\$TYPE_AFTER" &
            typer=\$!
        fi
        timeout 90 ./kvmbox run --kernel vmlinuz --initrd guest-initrd.gz "\$@" \
            > /tmp/out 2> /tmp/err < \$stdin; rc=\$?
        [ -n "\$typer" ] && kill \$typer 2>/dev/null
        [ \$rc -eq 124 ] || [ \$rc -eq 143 ] || return 0
        echo "# attempt \$attempt timed out (status \$rc):"
        tail -n 4 /tmp/out /tmp/err | sed 's/^/#   /'
        dmesg | grep -i 'soft lockup' | tail -n 2 | sed 's/^/#   lab: /'
    done
}
echo "ok - ${NAMES[0]}"
t "bzImage test guest" 7 "\$PASS" run --kernel guest/boot-linux.bzImage --memory 128M \
  --initrd rd0 --debug-exit --cmdline "kvmbox-test expect_mem=134217728 expect_mods=1 $M0 exit_code=3"
t "PVH test guest, two modules" 33 "\$PASS" run --kernel guest/boot-pvh.elf --memory 256M \
  --initrd rd0,rd1 --debug-exit --cmdline "kvmbox-test expect_mem=268435456 expect_mods=2 $M0 $M1"
t "multiboot ELF test guest, RAM above 4G" 33 "\$PASS" run --kernel guest/boot-multiboot.elf \
  --memory 5G --initrd rd0,rd1 --debug-exit \
  --cmdline "kvmbox-test expect_mem=5368709120 expect_mods=2 $M0 $M1"
t "multiboot a.out test guest" 33 "\$PASS" run --kernel guest/boot-multiboot-aout.bin \
  --memory 64M --initrd rd1 --debug-exit --cmdline "kvmbox-test expect_mods=1 $M1AS0"
t "i8042 reset exits 0" 0 "\$PASS" run --kernel guest/boot-pvh.elf --cmdline "kvmbox-test exit=reset"
t "time: kvmclock, the timing leaf, the wall clock and the RTC" 33 "\$PASS" \
  run --kernel guest/boot-linux.bzImage --debug-exit --cmdline "kvmbox-test now=\$(date +%s)"
t "--cpu-filter hides cx16, xsave and avx" 33 "\$PASS" run --kernel guest/boot-linux.bzImage \
  --cpu-filter cx16,xsave --debug-exit --cmdline "kvmbox-test cpuid_hidden=cx16,xsave,avx"

# SMP bring-up and cross-CPU IPIs on hardware semantics: two vCPUs in every
# run, four in the full run only (see the Linux SMP boots).
smp_runs=2
[ "\${LAB_FULL:-0}" = 1 ] && smp_runs="2 4"
for n in \$smp_runs; do
    t "SMP test guest, --cpus \$n: INIT-SIPI-SIPI, distinct APIC IDs, exact count, IPIs" 33 \
      "ipi: \$((n - 1)) of \$((n - 1)) APs took" \
      run --kernel guest/boot-linux.bzImage --cpus \$n --debug-exit \
      --cmdline "kvmbox-test smp ipi expect_cpus=\$n"
done

# Interrupt-driven checks (exceptions, PIT, UART TX/RX) in both entry paths;
# the UART input is typed once the guest says it is ready.
for kernel in boot-linux.bzImage boot-pvh.elf; do
    name="interrupts: exceptions, PIT and LAPIC timer ticks, UART TX (PIC) and RX (IOAPIC) (\$kernel)"
    rm -f /tmp/in; mkfifo /tmp/in
    timeout 120 ./kvmbox run --kernel guest/\$kernel --debug-exit --cmdline "kvmbox-test irq" \
        < /tmp/in > /tmp/out 2> /tmp/err &
    pid=\$!
    exec 3> /tmp/in
    for i in \$(seq 600); do grep -q 'irq-rx: ready' /tmp/out && break; sleep 0.1; done
    printf 'typed in the lab.' >&3
    exec 3>&-
    wait \$pid; rc=\$?
    grep -E '^irq|not ok' /tmp/out | sed 's/^/# /'
    if [ \$rc -eq 33 ] && grep -Eq "\$PASS" /tmp/out && grep -q "yped in the lab'" /tmp/out; then
        echo "ok - lab: \$name"
    else
        echo "not ok - lab: \$name"; echo "#   status \$rc"; tail -n 10 /tmp/out /tmp/err | sed 's/^/#   /'
    fi
done

# The stock Debian kernel, 64-bit boot protocol. The one warning allowed is
# the lab's own: under QEMU's software SVM the nested guest's XSETBV never
# reaches the lab's KVM, so CPUID 0xD.0 EBX stays at its XCR0=FP value and
# Linux reports "XSAVE consistency problem"; QEMU -enable-kvm shows the
# same line in the lab (see docs/lab.md).
# It powers off through ACPI (kvmbox exits 0) and must have found every CPU.
# The SMP boots are in the full run only (LAB_FULL=1, make check-lab): with
# more vCPUs than the lab's two emulated CPUs the lab's own KVM has been
# seen to lock up (docs/lab.md).
# Each boot also checks the platform as the guest sees it: its LAPIC timer
# passed (the TSC-deadline timer, or the check against the PM timer), the
# i8042's keyboard was found, and the CPU has a model name (the host's
# brand string, not Linux's "AMD Hammer" fallback).
for run in $LAB_LINUX_RUNS; do
    mem=\${run%:*} cpus=\${run#*:}
    name="stock Debian kernel boots to init with --memory \$mem --cpus \$cpus, powers off"
    boot_linux --memory \$mem --cpus \$cpus
    grep -E 'KVMBOX-(GUEST-READY|PLATFORM|INPUT)' /tmp/out | sed 's/^/# /'
    warnings=\$(grep '^KVMBOX-GUEST-LOG' /tmp/out | grep -v -e 'XSAVE consistency problem' \
                -e 'fpu/xstate.c')
    if [ \$rc -eq 0 ] && grep -q "KVMBOX-GUEST-READY.* cpus=\$cpus .*clocksource=kvm-clock rtc=[0-9]" /tmp/out &&
       grep -q KVMBOX-GUEST-DONE /tmp/out && grep -q 'reboot: Power down' /tmp/out &&
       [ -z "\$warnings" ]; then
        echo "ok - lab: \$name"
    else
        echo "not ok - lab: \$name"; echo "#   status \$rc"; echo "\$warnings" | sed 's/^/#   /'
        tail -n 15 /tmp/out /tmp/err | sed 's/^/#   /'
    fi
    name="platform: LAPIC timer kept, i8042 keyboard found, CPU model named (--cpus \$cpus)"
    if grep -q "^KVMBOX-PLATFORM model='..*' tsc_deadline=[01] lapic_failed=0" /tmp/out &&
       ! grep -q "^KVMBOX-PLATFORM model='[^']*Hammer" /tmp/out &&
       grep -q '^KVMBOX-INPUT .*AT Translated Set 2 keyboard' /tmp/out; then
        echo "ok - lab: \$name"
    else
        echo "not ok - lab: \$name"; grep -E '^KVMBOX-(PLATFORM|INPUT)' /tmp/out | sed 's/^/#   /'
    fi
done

# The stock kernel's own virtio_pci, virtio_blk and virtio-rng drivers
# against kvmbox's devices: it mounts the ext4 disk and checks a file's MD5,
# writes a file that the lab then reads by loop-mounting the image after
# kvmbox exits, finds the second disk read-only with its serial and has a
# write refused, and reads bytes from the rng.
name="virtio: stock kernel drives virtio-blk (ext4 read/write, read-only disk, serial) and virtio-rng"
if [ -f disk.img ]; then
    boot_linux --memory 256M --rng \
        --disk path=disk.img --disk path=ro.img,readonly=on,serial=KVMBOX-RO-1
    grep -E '^KVMBOX-(DISK|RNG)|virtio_blk' /tmp/out | sed 's/^/# /'
    mkdir -p /mnt && mount -o loop,ro disk.img /mnt 2>/dev/null
    host_read=\$(cat /mnt/from-guest.txt 2>/dev/null); umount /mnt 2>/dev/null
    echo "# the lab reads back: '\$host_read'"
    if [ \$rc -eq 0 ] && grep -q "KVMBOX-DISK read $DATA_MD5" /tmp/out &&
       grep -q "KVMBOX-DISK wrote" /tmp/out && [ "\$host_read" = "written by the guest" ] &&
       grep -q "KVMBOX-DISK2 1 KVMBOX-RO-1 dd: error writing" /tmp/out &&
       grep -q "KVMBOX-RNG 64 virtio_rng" /tmp/out; then
        echo "ok - lab: \$name"
    else
        echo "not ok - lab: \$name"; echo "#   status \$rc"; tail -n 15 /tmp/out /tmp/err | sed 's/^/#   /'
    fi
else
    echo "skip - lab: \$name (mke2fs could not make the disk image)"
fi

# virtio-net on user-mode networking and on a TAP, and virtio-console: the
# stock kernel's drivers send a 1 MB file through the lab's TCP echo
# server both ways (the lab's loopback through slirp; a TAP the lab
# creates), and the console carries a line out and one typed in.
name="virtio-net (user-mode networking and TAP with offloads) and virtio-console (hvc0)"
ip link set lo up
tunctl -t ktap0 > /dev/null && ip addr add 192.168.77.1/24 dev ktap0 && ip link set ktap0 up
nc -ll -p 7777 -e cat &
echo_pid=\$!
TYPE_AFTER="^KVMBOX-HVC out|typed into hvc0" boot_linux --memory 256M --console virtio \
    --net user,mac=52:54:00:00:00:01 --net tap=ktap0,mac=52:54:00:00:00:02
kill \$echo_pid 2>/dev/null
grep -E '^KVMBOX-(NET|HVC)' /tmp/out | sed 's/^/# /'
payload=\$(sed -n 's/^KVMBOX-NET payload \([0-9a-f]*\).*/\1/p' /tmp/out)
tap_features=\$(sed -n 's/^KVMBOX-NET tap .*features=\([01]*\).*/\1/p' /tmp/out)
# Bits 0 (CSUM), 1 (GUEST_CSUM), 7 and 8 (GUEST_TSO4/6), 11 and 12 (HOST_TSO4/6).
offloads=\$(echo "\$tap_features" | cut -c1,2,8,9,12,13)
if [ \$rc -eq 0 ] && [ -n "\$payload" ] &&
   grep -q "KVMBOX-NET user eth[0-9] features=.* echo=\$payload" /tmp/out &&
   grep -q "KVMBOX-NET tap eth[0-9] features=.* echo=\$payload" /tmp/out &&
   [ "\$offloads" = 111111 ] &&
   grep -q "KVMBOX-HVC in 'typed into hvc0'" /tmp/out && grep -q "^KVMBOX-HVC out" /tmp/out; then
    echo "ok - lab: \$name"
else
    echo "not ok - lab: \$name"; echo "#   status \$rc, tap offload bits '\$offloads'"
    tail -n 15 /tmp/out /tmp/err | sed 's/^/#   /'
fi

# Pause and resume of the stock kernel through the API, with kvmbox ctl:
# while paused the guest makes no progress (no tick), the VM says Paused,
# and after resume the ticks go on to the last one and the guest powers
# off as usual.
name="stock kernel paused and resumed through the API (kvmbox ctl): no progress while paused"
# A boot that stalls before its third tick (rare with one vCPU, see
# boot_linux) is started again, up to three times.
for attempt in 1 2 3; do
    rm -f /tmp/api.sock
    timeout 120 ./kvmbox run --kernel vmlinuz --initrd guest-initrd.gz --memory 256M \
        --api-socket /tmp/api.sock --cmdline "console=ttyS0 reboot=k panic=-1 kvmbox.ticks" \
        > /tmp/out 2> /tmp/err < /dev/null &
    kpid=\$!
    ticking=0
    for i in \$(seq 450); do
        grep -q "^KVMBOX-TICK 3 " /tmp/out && { ticking=1; break; }
        kill -0 \$kpid 2>/dev/null || break
        sleep 0.1
    done
    [ \$ticking -eq 1 ] && break
    echo "# attempt \$attempt: no third tick in 45 s"; tail -n 3 /tmp/out /tmp/err | sed 's/^/#   /'
    kill \$kpid 2>/dev/null; wait \$kpid
done
./kvmbox ctl --api-socket /tmp/api.sock pause; prc=\$?
sleep 0.5                            # output already on its way drains
n1=\$(grep -c "^KVMBOX-TICK" /tmp/out)
sleep 2
n2=\$(grep -c "^KVMBOX-TICK" /tmp/out)
state=\$(./kvmbox ctl --api-socket /tmp/api.sock info | grep -o Paused | head -n 1)
./kvmbox ctl --api-socket /tmp/api.sock resume; rrc=\$?
wait \$kpid; rc=\$?
n3=\$(grep -c "^KVMBOX-TICK" /tmp/out)
echo "# pause \$prc, ticks \$n1 then \$n2 while paused, state '\$state', resume \$rrc, \$n3 ticks in all"
if [ \$prc -eq 0 ] && [ \$rrc -eq 0 ] && [ "\$n1" = "\$n2" ] && [ "\$state" = Paused ] &&
   [ "\$n3" = 40 ] && [ \$rc -eq 0 ] && grep -q KVMBOX-GUEST-DONE /tmp/out; then
    echo "ok - lab: \$name"
else
    echo "not ok - lab: \$name"; echo "#   status \$rc"
    tail -n 15 /tmp/out /tmp/err | sed 's/^/#   /'
fi

# The VM's life through the API on the stock kernel with 2 vCPUs, a disk
# and a NIC: paused and resumed (its console answers after), rebooted by
# vm.reboot (the kernel boots again in a new VM), then shut down by
# vm.power-button (the kernel sees the ACPI power button and powers off:
# kvmbox exits 0). A boot that stalls (docs/lab.md: 2-vCPU boots here
# stall now and then) is tried again: the first by starting again, the
# reboot by asking for another.
name="stock kernel, 2 vCPUs, disk and NIC: paused and resumed, rebooted by vm.reboot, shut down by vm.power-button"
ctl() { ./kvmbox ctl --api-socket /tmp/api.sock "\$@"; }
# seen MARKER N: waits (30 s at most) until the guest has printed MARKER
# at the start of N lines.
seen() {
    for i in \$(seq 300); do
        [ "\$(grep -c "^\$1" /tmp/out)" -ge "\$2" ] && return 0; sleep 0.1
    done
    return 1
}
# api_boot MARKER DISK GUEST-INIT-FLAG: the stock kernel with 2 vCPUs, DISK
# and a user-mode NIC, the API on /tmp/api.sock, in the background (kpid);
# started again, up to three times, until it prints MARKER.
api_boot() {
    for attempt in 1 2 3; do
        rm -f /tmp/api.sock
        timeout 150 ./kvmbox run --kernel vmlinuz --initrd guest-initrd.gz --memory 256M --cpus 2 \
            --disk path=\$2 --net user --api-socket /tmp/api.sock \
            --cmdline "console=ttyS0 reboot=k panic=-1 \$3" > /tmp/out 2> /tmp/err < /dev/null &
        kpid=\$!
        seen "\$1" 1 && return 0
        echo "# attempt \$attempt: no boot in 30 s"; tail -n 3 /tmp/out | sed 's/^/#   /'
        kill \$kpid; wait \$kpid
    done
    return 1
}
dd if=/dev/zero of=/tmp/life.img bs=1M count=1 2>/dev/null
api_boot KVMBOX-POWER-READY /tmp/life.img kvmbox.powerbutton
cpus=\$(sed -n 's/^KVMBOX-GUEST-READY.* cpus=\([0-9]*\).*/\1/p' /tmp/out | head -n 1)
ctl pause; prc=\$?
pstate=\$(ctl info | grep -o '"state": "[A-Za-z]*"')
ctl resume; rrc=\$?
rstate=\$(ctl info | grep -o '"state": "[A-Za-z]*"')
boots=1
for attempt in 1 2 3; do
    ctl reboot; brc=\$?
    boots=\$((boots + 1))
    seen KVMBOX-POWER-READY \$boots && break
    echo "# reboot \$attempt: no boot in 30 s"
done
ctl power-button; pbrc=\$?
wait \$kpid; rc=\$?
echo "# cpus \$cpus, pause \$prc (\$pstate), resume \$rrc (\$rstate), reboot \$brc, boots \$(grep -c '^KVMBOX-POWER-READY' /tmp/out), power-button \$pbrc, status \$rc"
if [ "\$cpus" = 2 ] && [ \$prc -eq 0 ] && [ "\$pstate" = '"state": "Paused"' ] && [ \$rrc -eq 0 ] &&
   [ "\$rstate" = '"state": "Running"' ] && [ \$brc -eq 0 ] &&
   [ "\$(grep -c '^KVMBOX-POWER-READY' /tmp/out)" -ge 2 ] && [ \$pbrc -eq 0 ] && [ \$rc -eq 0 ] &&
   grep -q "^KVMBOX-POWER-BUTTON pressed" /tmp/out && grep -q KVMBOX-GUEST-DONE /tmp/out; then
    echo "ok - lab: \$name"
else
    echo "not ok - lab: \$name"
    tail -n 15 /tmp/out /tmp/err | sed 's/^/#   /'
fi

# Snapshot and restore of the stock kernel with 2 vCPUs, a disk and a NIC:
# saved once it is ready, the process killed, restored 3 s later in a new
# kvmbox (the test's typing reaches only the restored one). Its file in
# RAM and its ticking process survive, its clock moved on by at least
# the gap, its disk writes and reads back, its NIC carries a new TCP echo.
name="stock kernel, 2 vCPUs, disk and NIC: snapshotted, killed, restored in a new kvmbox"
rm -rf /tmp/snap /tmp/api.sock
dd if=/dev/zero of=/tmp/snapdisk.img bs=1M count=1 2>/dev/null
nc -ll -p 7777 -e cat &
echo_pid=\$!
api_boot KVMBOX-SNAP-READY /tmp/snapdisk.img kvmbox.snapshot
sleep 1                              # a tick or two before the save
ctl pause && ctl snapshot file:///tmp/snap; src=\$?
kill -9 \$kpid; wait \$kpid
cp /tmp/out /tmp/out-before
sleep 3
rm -f /tmp/in; mkfifo /tmp/in
timeout 120 ./kvmbox run --restore source_url=file:///tmp/snap,resume=on \
    > /tmp/out 2> /tmp/err < /tmp/in &
rpid=\$!
exec 4> /tmp/in
sleep 2
printf 'after-restore\n' >&4
wait \$rpid; rc=\$?
exec 4>&-
kill \$echo_pid 2>/dev/null
before=\$(grep '^KVMBOX-SNAP-READY' /tmp/out-before)
after=\$(grep '^KVMBOX-SNAP-AFTER' /tmp/out)
file=\$(echo "\$before" | sed -n 's/.*file=\([0-9a-f]*\).*/\1/p')
d0=\$(echo "\$before" | sed -n 's/.*date=\([0-9]*\).*/\1/p')
d1=\$(echo "\$after" | sed -n 's/.*date=\([0-9]*\).*/\1/p')
echo "# snapshot \$src; before: \$before"
echo "# after (status \$rc): \$after"
if [ \$src -eq 0 ] && [ \$rc -eq 0 ] && [ -n "\$file" ] &&
   echo "\$after" | grep -q "line='after-restore' file=\$file ticker=yes" &&
   [ -n "\$d1" ] && [ "\$d1" -ge \$((d0 + 3)) ] &&
   echo "\$after" | grep -q "disk='restored after-restore'" &&
   echo "\$after" | grep -q "net=echoed" && grep -q KVMBOX-GUEST-DONE /tmp/out; then
    echo "ok - lab: \$name"
else
    echo "not ok - lab: \$name"
    tail -n 15 /tmp/out /tmp/err | sed 's/^/#   /'
fi

# Live migration of the stock kernel with 2 vCPUs, a disk and a NIC, from
# one kvmbox to another in the lab over TCP loopback, while it prints 40
# ticks: the ticks go on at the destination to the last one, the source
# exits 0, the guest powers off there (KVMBOX-GUEST-DONE).
name="stock kernel, 2 vCPUs, disk and NIC: live-migrated while it runs: its ticker, RAM file, disk and user-mode NIC work on the destination"
rm -f /tmp/dst.sock /tmp/in
dd if=/dev/zero of=/tmp/migdisk.img bs=1M count=1 2>/dev/null
nc -ll -p 7777 -e cat &
echo_pid=\$!
# The destination's terminal is a FIFO: the line typed after the move
# reaches only a guest that runs there.
mkfifo /tmp/in
./kvmbox run --api-socket /tmp/dst.sock > /tmp/dst-out 2> /tmp/dst-err < /tmp/in &
dpid=\$!
exec 4> /tmp/in
api_boot KVMBOX-SNAP-READY /tmp/migdisk.img kvmbox.snapshot
seen KVMBOX-TICK2 2
./kvmbox ctl --api-socket /tmp/dst.sock receive-migration receiver_url=tcp:127.0.0.1:7100 \
    > /tmp/recv-out 2>&1 &
rpid=\$!
sleep 0.5
ctl send-migration destination_url=tcp:127.0.0.1:7100,downtime_ms=300 > /tmp/send-out 2>&1; src=\$?
wait \$rpid; recv=\$?
wait \$kpid; srcrc=\$?
sleep 1
# A destination that died must show as a failure, not end this script
# with a SIGPIPE on its terminal.
trap '' PIPE
printf 'after-migration\n' >&4
timeout 60 sh -c "while kill -0 \$dpid 2>/dev/null; do sleep 0.2; done"
wait \$dpid; dstrc=\$?
exec 4>&-
kill \$echo_pid 2>/dev/null
before=\$(grep '^KVMBOX-SNAP-READY' /tmp/out)
after=\$(grep '^KVMBOX-SNAP-AFTER' /tmp/dst-out)
file=\$(echo "\$before" | sed -n 's/.*file=\([0-9a-f]*\).*/\1/p')
n0=\$(grep -c '^KVMBOX-TICK2' /tmp/out)
n1=\$(grep -c '^KVMBOX-TICK2' /tmp/dst-out)
echo "# send \$src (\$(cat /tmp/send-out)), receive \$recv, source exit \$srcrc, destination exit \$dstrc"
echo "# ticks \$n0 at the source, \$n1 at the destination; after: \$after"
if [ \$src -eq 0 ] && [ \$recv -eq 0 ] && [ \$srcrc -eq 0 ] && [ \$dstrc -eq 0 ] &&
   [ "\$n0" -gt 0 ] && [ "\$n1" -gt 0 ] && [ -n "\$file" ] &&
   echo "\$after" | grep -q "line='after-migration' file=\$file ticker=yes" &&
   echo "\$after" | grep -q "disk='restored after-migration'" &&
   echo "\$after" | grep -q "net=echoed" && grep -q KVMBOX-GUEST-DONE /tmp/dst-out; then
    echo "ok - lab: \$name"
else
    echo "not ok - lab: \$name"
    tail -n 8 /tmp/out /tmp/err /tmp/dst-out /tmp/dst-err /tmp/recv-out | sed 's/^/#   /'
fi
IN

run_lab() {
    local disks=()
    [ "$DISK_OK" = 1 ] && disks=(-f "$TMP/disk.img" -f "$TMP/ro.img")
    "$here/lab.sh" run -t "${LAB_TIMEOUT:-$([ "${LAB_FULL:-0}" = 1 ] && echo 600 || echo 300)}" -f "$TMP/rd0" -f "$TMP/rd1" "${disks[@]}" \
        -f "$TMP/in-lab.sh" "sh in-lab.sh" > "$TMP/lab.out" 2> "$TMP/lab.err"
}
run_lab
rc=$?
# The lab itself (QEMU's software SVM under the lab's KVM) has been seen to
# wedge now and then; one retry tells a wedge from a kvmbox failure, which
# would repeat. The first attempt's output stays in the log.
if [ $rc -eq 124 ] || [ $rc -eq 125 ]; then
    sed 's/^/# first attempt: /' "$TMP/lab.out" "$TMP/lab.err" | grep -v '^# first attempt: ok' | tail -15
    echo "# the lab did not finish (status $rc); retrying once"
    run_lab
    rc=$?
fi
cat "$TMP/lab.out"
if [ $rc -eq 125 ] || [ $rc -eq 124 ]; then
    not_ok "${NAMES[0]}" "$TMP/lab.err"
fi
