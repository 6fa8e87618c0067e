#!/usr/bin/env bash
# The test guest's own PCI and virtio drivers (tests/guest/virtio_check.c,
# net_check.c) against kvmbox's devices on /dev/kvm, polling only: PCI
# through both configuration mechanisms, BAR sizing and relocation, MSI-X
# and INTx, virtio-blk round trips (checked again from the host side),
# virtio-rng, virtio-console both ways, and virtio-net through slirp and
# through a TAP in a network namespace this test makes.
. "$(dirname "$0")/lib.sh"

NAMES=("virtio guest (PVH): PCI both ways, BARs moved, MSI-X, INTx, blk, read-only blk, rng, console"
       "virtio-blk: the guest's writes are in the file, zeroed and discarded ranges read 0, the read-only disk is unchanged"
       "virtio-console: stdin reaches the guest's receive queue"
       "virtio-net user (bzImage entry): ARP, ping and TCP echo through slirp to the host loopback"
       "virtio-net tap: ARP, ping and TCP echo through a TAP in a network namespace"
       "virtio-net user,restrict=on: the gateway answers, a connection to the host does not")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi
PASS="guest: all [0-9]+ checks passed"
MIB=1048576

# An echo server (one connection at a time) on ADDR, run under the
# command prefix given (e.g. ip netns exec NS); sets PORT and ECHO_PID.
ECHO_PY='
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    while True:
        d = c.recv(65536)
        if not d: break
        c.sendall(d)
    c.close()'
start_echo() {
    local addr=$1
    shift
    : > "$TMP/echo.port"
    "$@" python3 -c "$ECHO_PY" "$addr" > "$TMP/echo.port" &
    ECHO_PID=$!
    for _ in $(seq 50); do [ -s "$TMP/echo.port" ] && break; sleep 0.1; done
    PORT=$(cat "$TMP/echo.port")
}
stop_echo() { kill "$ECHO_PID" 2>/dev/null; wait "$ECHO_PID" 2>/dev/null; }

# Disk layout shared with virtio_check.c: 64 KiB the guest reads and
# cksums; the guest's pattern at 1 MiB (4 MiB of 64-bit words, each
# "kvmb" << 32 | its byte offset); write-zeroes at 6 MiB and discard at
# 7 MiB (64 KiB each).
head -c $((8 * MIB)) /dev/urandom > "$TMP/rw.img"
head -c $((1 * MIB)) /dev/urandom > "$TMP/ro.img"
HEAD=$(head -c 65536 "$TMP/rw.img" | cksum | cut -d' ' -f1)
RO_SUM=$(cksum < "$TMP/ro.img")
kv run --kernel "$G/boot-pvh.elf" --memory 128M --debug-exit \
   --disk path="$TMP/rw.img",serial=kvmbox-disk0 --disk path="$TMP/ro.img",readonly=on \
   --rng --console virtio \
   --cmdline "kvmbox-test virtio expect_virtio=4 blk_serial=kvmbox-disk0 blk_bytes=$((8 * MIB)) blk_head=$HEAD"
if [ "$rc" -eq 33 ] && ! grep -q "vcon: hello through the transmit queue" "$TMP/out"; then
    echo "#   virtio-console's line is not on stdout"
    rc=-1
fi
expect "${NAMES[0]}" 33 "$PASS"

if disk_pattern_ok "$TMP/rw.img"; then
    if [ "$(cksum < "$TMP/ro.img")" = "$RO_SUM" ]; then ok "${NAMES[1]}"; else not_ok "${NAMES[1]}"; fi
else
    not_ok "${NAMES[1]}"
fi

# Input typed after the guest is up; the guest reads it until '.'.
printf 'typed in.' | timeout -k 5 "$LIMIT" "$KVMBOX" run --kernel "$G/boot-pvh.elf" --memory 64M \
    --debug-exit --console virtio --cmdline "kvmbox-test virtio vcon_echo" > "$TMP/out" 2> "$TMP/err"
rc=$?
expect "${NAMES[2]}" 33 "vcon: got 'typed in'"

start_echo 127.0.0.1
kv run --kernel "$G/boot-linux.bzImage" --memory 64M --debug-exit --net user,mac=52:54:00:12:34:99 \
   --cmdline "kvmbox-test virtio expect_virtio=1 net_ip=10.0.2.15 net_peer=10.0.2.2 net_ping echo_port=$PORT net_mac_last=153"
expect "${NAMES[3]}" 33 "tcp: sent 1500 bytes to port [0-9]+, 1500 came back"
kv run --kernel "$G/boot-pvh.elf" --memory 64M --debug-exit --net user,restrict=on \
   --cmdline "kvmbox-test virtio expect_virtio=1 net_ip=10.0.2.15 net_peer=10.0.2.2 net_ping blocked_port=$PORT"
expect "${NAMES[5]}" 33 "ok - virtio-net: restrict=on"
stop_echo

# The TAP lives in a namespace of its own, so the test touches nothing of
# the host's network.
NS=kvmbox-test-$$
if [ "$(id -u)" -ne 0 ] || ! command -v ip > /dev/null; then
    skip "${NAMES[4]}" "needs root and iproute2 for a network namespace"
elif ! ip netns add "$NS" 2> "$TMP/err"; then
    skip "${NAMES[4]}" "cannot make a network namespace: $(head -1 "$TMP/err")"
else
    ip -n "$NS" link set lo up
    if ip -n "$NS" tuntap add dev ktap0 mode tap 2> "$TMP/err" &&
       ip -n "$NS" addr add 192.168.77.1/24 dev ktap0 && ip -n "$NS" link set ktap0 up; then
        start_echo 192.168.77.1 ip netns exec "$NS"
        kv_ns() { timeout -k 5 "$LIMIT" ip netns exec "$NS" "$KVMBOX" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null; rc=$?; }
        kv_ns run --kernel "$G/boot-pvh.elf" --memory 64M --debug-exit --net tap=ktap0 \
           --cmdline "kvmbox-test virtio expect_virtio=1 net_ip=192.168.77.2 net_peer=192.168.77.1 net_ping echo_port=$PORT"
        expect "${NAMES[4]}" 33 "tcp: sent 1500 bytes to port [0-9]+, 1500 came back"
        stop_echo
    else
        skip "${NAMES[4]}" "cannot make a TAP: $(head -1 "$TMP/err")"
    fi
    ip netns del "$NS"
fi
