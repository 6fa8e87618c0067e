#!/usr/bin/env bash
# Downloads Debian's cloud kernel and busybox-static with `apt-get download`
# and builds the nested guest's initramfs (make guest-linux).
#   fetch.sh OUT     -> OUT/vmlinuz, OUT/modules/, OUT/busybox, OUT/guest-initrd.gz
# Idempotent: what is already there is kept.
set -euo pipefail
out=$(realpath -m "$1")
here=$(dirname "$(realpath "$0")")
mkdir -p "$out/debs"

if [ ! -f "$out/vmlinuz" ] || [ ! -x "$out/busybox" ]; then
    # The meta-package only depends on the versioned image; fetch that.
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
          awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    if [ -z "$pkg" ]; then
        echo "fetch: apt knows no linux-image-cloud-amd64 (run apt-get update)" >&2
        exit 1
    fi
    (cd "$out/debs" && apt-get download -qq "$pkg" busybox-static 2>/dev/null ||
     apt-get download -q "$pkg" busybox-static)
    rm -rf "$out/x" && mkdir -p "$out/x"
    for d in "$out"/debs/*.deb; do dpkg-deb -x "$d" "$out/x"; done
    cp "$out"/x/boot/vmlinuz-* "$out/vmlinuz"
    rm -rf "$out/modules"
    mv "$out"/x/lib/modules/* "$out/modules"
    cp "$out/x/bin/busybox" "$out/busybox"
    rm -rf "$out/x"
fi

# cpio ROOT > ARCHIVE, with busybox's cpio (no host cpio needed).
mkcpio() { (cd "$1" && find . | "$out/busybox" cpio -o -H newc 2>/dev/null); }

if [ ! -f "$out/guest-initrd.gz" ] || [ "$here/guest-init.sh" -nt "$out/guest-initrd.gz" ] ||
   [ "$0" -nt "$out/guest-initrd.gz" ]; then
    r=$(mktemp -d)
    mkdir -p "$r"/{bin,proc,sys,dev,lib/modules}
    cp "$out/busybox" "$r/bin/"
    for a in sh mount umount insmod cat echo ls grep cut wc reboot poweroff dmesg sleep \
             md5sum head mkdir sync dd date ip nc timeout; do
        ln -s busybox "$r/bin/$a"
    done
    while read -r m; do
        cp "$out"/modules/kernel/"$m".ko "$r/lib/modules/"
    done <<'LIST'
drivers/virtio/virtio_ring
drivers/virtio/virtio
drivers/virtio/virtio_pci_modern_dev
drivers/virtio/virtio_pci_legacy_dev
drivers/virtio/virtio_pci
net/core/failover
drivers/net/net_failover
drivers/net/virtio_net
drivers/block/virtio_blk
drivers/char/virtio_console
drivers/char/hw_random/virtio-rng
drivers/acpi/button
drivers/input/evdev
LIST
    cp "$here/guest-init.sh" "$r/init"
    chmod 755 "$r/init"
    mkcpio "$r" | gzip -1 > "$out/guest-initrd.gz"
    rm -rf "$r"
fi
echo "fetch: $(basename "$(readlink -f "$out/vmlinuz")") and initramfs ready in $out"
