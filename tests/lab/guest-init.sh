#!/bin/sh
# /init of the nested Linux guest that kvmbox boots inside the lab: loads
# the virtio drivers, prints one marker line (uptime, CPUs, virtio devices),
# the kernel's warnings, and powers off through ACPI (kvmbox exits 0),
# with kvmbox.powerbutton only once the ACPI power button is pressed.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover \
         net_failover virtio_net virtio_blk virtio_console virtio-rng button evdev; do
    insmod /lib/modules/$m.ko 2>/dev/null
done
echo "KVMBOX-GUEST-READY uptime=$(cut -d' ' -f1 /proc/uptime)" \
     "cpus=$(grep -c ^processor /proc/cpuinfo)" \
     "virtio=$(ls /sys/bus/virtio/devices 2>/dev/null | wc -l)" \
     "clocksource=$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)" \
     "rtc=$(cat /sys/class/rtc/rtc0/since_epoch 2>/dev/null) now=$(date +%s)"
# The virtio devices, where kvmbox gave them: the first disk is an ext4
# image with data.bin (its MD5 is printed) that gets a file written;
# the rng's first bytes are counted.
if [ -b /dev/vda ]; then
    mkdir -p /mnt
    if mount -t ext4 /dev/vda /mnt; then
        echo "KVMBOX-DISK read $(md5sum < /mnt/data.bin)"
        echo "written by the guest" > /mnt/from-guest.txt && sync && echo "KVMBOX-DISK wrote"
        umount /mnt
    fi
fi
if [ -b /dev/vdb ]; then
    echo "KVMBOX-DISK2 $(cat /sys/block/vdb/ro) $(cat /sys/block/vdb/serial 2>/dev/null)" \
         "$(dd if=/dev/zero of=/dev/vdb bs=512 count=1 oflag=direct 2>&1 >/dev/null | head -1)"
fi
if [ -c /dev/hwrng ] && [ "$(cat /sys/class/misc/hw_random/rng_current)" != none ]; then
    echo "KVMBOX-RNG $(head -c 64 /dev/hwrng | wc -c) $(cat /sys/class/misc/hw_random/rng_current)"
fi
# NICs, found by the MAC the test gave them: 52:54:00:00:00:01 is on user-mode
# networking (the lab's loopback is 10.0.2.2 there), ...:02 on a TAP
# whose lab end is 192.168.77.1. On each, a 1 MB random file goes through
# the lab's TCP echo server and its MD5 must come back; the NIC's
# negotiated features (one bit per character) show the offloads.
head -c 1000000 /dev/urandom > /payload
echo "KVMBOX-NET payload $(md5sum < /payload)"
ip link set lo up
for nic in /sys/class/net/eth*; do
    [ -e "$nic" ] || continue
    dev=${nic##*/}
    case $(cat "$nic/address") in
    52:54:00:00:00:01) me=10.0.2.15 peer=10.0.2.2 what=user ;;
    52:54:00:00:00:02) me=192.168.77.2 peer=192.168.77.1 what=tap ;;
    *) continue ;;
    esac
    ip addr add $me/24 dev $dev && ip link set $dev up
    echo "KVMBOX-NET $what $dev features=$(cat $nic/device/features)" \
         "echo=$(timeout 60 nc $peer 7777 < /payload | md5sum)"
done
# The virtio console: a line out, and a line in from kvmbox's stdin. Kept
# open throughout: a tty's last close drops the input it has buffered.
if [ -c /dev/hvc0 ]; then
    exec 3<> /dev/hvc0
    echo "KVMBOX-HVC out" >&3
    read -t 30 line <&3
    echo "KVMBOX-HVC in '$line'"
    exec 3>&-
fi
# Platform fidelity: the CPU's name, the TSC-deadline timer and whether the
# LAPIC timer survived its check, the input devices found (the i8042's
# keyboard), and the kernel's lines about them, whose time stamps show how
# long the i8042 probe took.
echo "KVMBOX-PLATFORM model='$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | cut -c2-)'" \
     "tsc_deadline=$(grep -qw tsc_deadline_timer /proc/cpuinfo && echo 1 || echo 0)" \
     "lapic_failed=$(dmesg | grep -c -e 'APIC timer disabled' -e 'lapic is not functional')"
grep '^N: Name=' /proc/bus/input/devices 2>/dev/null | sed 's/^/KVMBOX-INPUT /'
dmesg | grep -iE 'i8042|serio|input:|atkbd|psmouse|pm.timer|acpi_pm|tsc.deadline|apic timer|lapic|high.res| 00:0[0-9]: ' |
    sed 's/^/KVMBOX-PLATFORM-LOG /'
# What a test checks for: warnings that a VMM can cause.
dmesg | grep -iE 'warn|unchecked msr|unknown msr|firmware bug|bad e820|rtc.*fail|keylock|acpi( bios)? (error|warning)|smpboot.*(fail|not respond)' |
    sed 's/^/KVMBOX-GUEST-LOG /'
# kvmbox.ticks on the command line: 40 ticks, a quarter of a second apart,
# for a test that pauses and resumes the VM meanwhile (no tick while
# paused; all of them in the end).
if grep -qw kvmbox.ticks /proc/cmdline; then
    for i in $(seq 40); do
        echo "KVMBOX-TICK $i $(cut -d' ' -f1 /proc/uptime)"
        sleep 0.25
    done
fi
# kvmbox.snapshot: the guest a snapshot test saves and restores. It keeps a
# file in RAM and a ticking process, says it is ready with its clock, and
# waits for a line typed on its console (which only the restored VM gets);
# then it shows what survived: the line, the file, the ticker, its clock,
# a write and read-back on its disk and a TCP echo through its NIC.
if grep -qw kvmbox.snapshot /proc/cmdline; then
    head -c 16 /dev/urandom | md5sum | cut -c1-16 > /ram.txt
    (while :; do echo "KVMBOX-TICK2 $(cut -d' ' -f1 /proc/uptime)"; sleep 0.5; done) &
    ticker=$!
    ip addr add 10.0.2.15/24 dev eth0 2>/dev/null && ip link set eth0 up
    exec 3<> /dev/ttyS0
    echo "KVMBOX-SNAP-READY file=$(cat /ram.txt) date=$(date +%s)"
    read -t 300 line <&3
    kill -0 $ticker 2>/dev/null && alive=yes || alive=no
    echo "restored $line" | dd of=/dev/vda bs=512 count=1 conv=sync oflag=direct 2>/dev/null
    back=$(dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null | head -n 1)
    echo "KVMBOX-SNAP-AFTER line='$line' file=$(cat /ram.txt) ticker=$alive date=$(date +%s)" \
         "disk='$back' net=$(echo echoed | timeout 20 nc 10.0.2.2 7777)"
    kill $ticker
    exec 3>&-
fi
# kvmbox.powerbutton: wait for the ACPI power button (the kernel's button
# driver reports it as a key on its input device) and then power off, as
# a desktop's logind would: the host presses it with vm.power-button.
if grep -qw kvmbox.powerbutton /proc/cmdline; then
    for ev in /sys/class/input/event*; do
        [ "$(cat "$ev/device/name" 2>/dev/null)" = "Power Button" ] || continue
        echo "KVMBOX-POWER-READY ${ev##*/}"
        dd if=/dev/input/${ev##*/} of=/dev/null bs=24 count=1 2>/dev/null
        echo "KVMBOX-POWER-BUTTON pressed"
        break
    done
fi
echo "KVMBOX-GUEST-DONE"
poweroff -f
