#!/bin/sh
# /init of the nested Linux guest that kvmbox boots inside the lab: loads
# the virtio drivers, prints one marker line (uptime, CPUs, virtio devices),
# the kernel's warnings, and powers off through ACPI (kvmbox exits 0).
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover \
         net_failover virtio_net virtio_blk virtio_console virtio-rng; do
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
# What a test checks for: warnings that a VMM can cause.
dmesg | grep -iE 'warn|unchecked msr|unknown msr|firmware bug|bad e820|rtc.*fail|keylock|acpi( bios)? (error|warning)|smpboot.*(fail|not respond)' |
    sed 's/^/KVMBOX-GUEST-LOG /'
echo "KVMBOX-GUEST-DONE"
poweroff -f
