#!/bin/sh
# /init of the lab: a Linux under QEMU's software emulation whose /dev/kvm
# (kvm-amd on emulated SVM) has hardware semantics. Runs /lab/cmd.sh, which
# the host appended to the initramfs, between two markers the host parses.
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# The lab boots on one CPU (maxcpus=1) and brings the others up only after
# everything that rewrites kernel text at load time has run: loading KVM
# patches its static calls, and kvm-pin (see kvm-pin.c) flips static keys.
# Text rewritten while another emulated CPU runs has frozen the lab under
# QEMU's multi-threaded TCG (docs/lab.md).
for m in irqbypass kvm kvm-amd loop tun; do
    insmod /lib/modules/$m.ko || echo "lab: insmod $m failed"
done
# One VM held open from here to power-off, so that kvmbox's VMs never make
# the lab kernel rewrite its text.
/bin/kvm-pin || echo "lab: kvm-pin failed"
for cpu in /sys/devices/system/cpu/cpu[1-9]*; do
    echo 1 > "$cpu/online" || echo "lab: cannot bring up ${cpu##*/}"
done
export PATH=/bin:/usr/bin LAB=/lab
cd /lab
echo "@@LAB-BEGIN@@"
sh /lab/cmd.sh
echo "@@LAB-EXIT $?@@"
poweroff -f
