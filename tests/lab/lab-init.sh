#!/bin/sh
# /init of the lab: a Linux under QEMU's software emulation whose /dev/kvm
# (kvm-amd on emulated SVM) has hardware semantics. Runs /lab/cmd.sh, which
# the host appended to the initramfs, between two markers the host parses.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
for m in irqbypass kvm kvm-amd loop tun; do
    insmod /lib/modules/$m.ko || echo "lab: insmod $m failed"
done
export PATH=/bin:/usr/bin LAB=/lab
cd /lab
echo "@@LAB-BEGIN@@"
sh /lab/cmd.sh
echo "@@LAB-EXIT $?@@"
poweroff -f
