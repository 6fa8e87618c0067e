#!/usr/bin/env bash
# vm.counters and vm.info's device_tree, as Cloud Hypervisor shapes them:
# the test guest runs its virtio-blk checks (reads and writes) on a disk
# and a NIC sits beside it, then the guest spins while curl asks. The
# disk's counters have moved; the NIC's exist (the guest sends nothing
# unasked); each device is in the tree, the child of its virtio-pci node,
# which has the PCI address.
. "$(dirname "$0")/lib.sh"

NAMES=("api: vm.counters has _disk0 with CH's four block counters, reads and writes counted"
       "api: vm.counters has _net1 with CH's four net counters; no entry for a device that counts nothing"
       "api: vm.info's device_tree has _disk0 and _net1 under their _virtio-pci- nodes, with PCI addresses")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi
if ! command -v curl >/dev/null || ! command -v python3 >/dev/null; then
    for n in "${NAMES[@]}"; do skip "$n" "curl or python3 not installed"; done
    exit 0
fi

S=$TMP/api.sock
MIB=1048576
get() {   # ENDPOINT: the body, or nothing
    curl -s --max-time 20 --unix-socket "$S" "http://localhost/api/v1/$1" 2>/dev/null
}

# The disk as test_virtio.sh lays it out for the guest's checks.
head -c $((8 * MIB)) /dev/urandom > "$TMP/rw.img"
HEAD=$(head -c 65536 "$TMP/rw.img" | cksum | cut -d' ' -f1)
timeout -k 5 300 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --memory 128M --api-socket "$S" \
    --disk path="$TMP/rw.img",serial=kvmbox-disk0 --net user --rng \
    --cmdline "kvmbox-test virtio expect_virtio=3 blk_serial=kvmbox-disk0 blk_bytes=$((8 * MIB)) blk_head=$HEAD spin" \
    < /dev/null > "$TMP/out" 2> "$TMP/err" &
pid=$!
for _ in $(seq 2400); do
    grep -q "spin: running" "$TMP/out" 2>/dev/null && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
done
counters=$(get vm.counters)
info=$(get vm.info)
curl -s --max-time 20 --unix-socket "$S" -X PUT http://localhost/api/v1/vmm.shutdown > /dev/null 2>&1
wait $pid

# check N PYTHON-EXPRESSION over c (vm.counters) and t (the device tree)
check() {
    if python3 -c '
import json, re, sys
c = json.loads(sys.argv[1]); t = json.loads(sys.argv[2])["device_tree"]
sys.exit(0 if eval("(" + sys.argv[3] + ")") else 1)' "$counters" "$info" "$2" 2>> "$TMP/err"; then
        ok "${NAMES[$1]}"
    else
        echo "#   vm.counters: $counters"
        echo "#   vm.info: $info"
        not_ok "${NAMES[$1]}" "$TMP/out" "$TMP/err"
    fi
}
check 0 'sorted(c["_disk0"]) == ["read_bytes", "read_ops", "write_bytes", "write_ops"] and
         all(c["_disk0"][k] > 0 for k in c["_disk0"]) and c["_disk0"]["read_bytes"] % 512 == 0'
check 1 'sorted(c["_net1"]) == ["rx_bytes", "rx_frames", "tx_bytes", "tx_frames"] and
         sorted(c) == ["_disk0", "_net1"]'
check 2 'all(t[d]["id"] == d and t[d]["parent"] == "_virtio-pci-" + d and t[d]["children"] == [] and
             t[d]["pci_bdf"] is None and t["_virtio-pci-" + d]["children"] == [d] and
             re.fullmatch(r"0000:00:[0-9a-f]{2}\.0", t["_virtio-pci-" + d]["pci_bdf"])
             for d in ("_disk0", "_net1", "__rng")) and
         t["_virtio-pci-_disk0"]["pci_bdf"] != t["_virtio-pci-_net1"]["pci_bdf"]'
