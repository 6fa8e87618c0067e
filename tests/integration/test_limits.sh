#!/usr/bin/env bash
# docs/security.md's "Resource bounds", held against floods: API clients
# (too many at once, requests over the limits, long runs of requests, a
# client that never reads, 32 clients each holding a 4 MiB body) and a
# guest's console output into a pipe nobody reads. Each check looks at
# kvmbox's resident memory (VmRSS) before and during the flood, and that
# kvmbox still answers afterwards. Seccomp stays on (the default).
. "$(dirname "$0")/lib.sh"

MIB=1024                             # in KiB, as VmRSS counts
NAMES=("limits: 200 API clients at once: 32 are kept, the rest closed; memory within 2 MiB; served again once they go"
       "limits: a body, target, headers or header count over the limits is refused (413, 414, 431, 431; chunked 413)"
       "limits: 2000 requests on a connection, 300 connections in a row, a client that never reads: all served; memory back within 8 MiB"
       "limits: 32 clients each holding a 4 MiB body: at most 32 x 4 MiB more memory, given back once answered (twice)"
       "limits: a guest floods its console 6x the 256 KiB ring into a pipe nobody reads: it never waits, memory grows by the ring at most, the rest is counted dropped"
       "limits: a console flood without end: the API still answers and SIGTERM stops kvmbox (143)"
       "limits: UDP datagrams flood a user-mode NIC whose guest takes none: thousands taken in, 16 delivered, memory within 2 MiB (the 64-frame backlog)"
       "limits: 40000 block reads with the guest's queue kept full: all complete, memory within 2 MiB of where it was after the first 4096, the API answers meanwhile")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi
if ! command -v python3 > /dev/null || ! command -v curl > /dev/null; then
    for n in "${NAMES[@]}"; do skip "$n" "python3 or curl not installed"; done
    exit 0
fi
# ASan keeps freed memory in its quarantine (256 MiB) on purpose; that
# would count as growth here. Without it the bounds are kvmbox's own.
if grep -q __asan_init "$KVMBOX"; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0:thread_local_quarantine_size_kb=0
fi

S=$TMP/api.sock
wrapper=
cleanup() {
    [ -n "$wrapper" ] && kill -KILL "$wrapper" "$(pgrep -P "$wrapper")" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

rss() { awk '/^VmRSS:/ { print $2 }' /proc/"$1"/status 2>/dev/null; }
# start ARGS...: kvmbox in the background with the API on $S, its stdout
# on fd 4; waits until vmm.ping answers. Sets $wrapper (timeout's pid) and
# $pid (kvmbox's).
start() {
    rm -f "$S"
    timeout -k 5 "$LIMIT" "$KVMBOX" run --api-socket "$S" "$@" < /dev/null >&4 2> "$TMP/err" &
    wrapper=$!
    code=
    for _ in $(seq 300); do
        api GET vmm.ping
        [ "$code" = 200 ] && break
        kill -0 "$wrapper" 2>/dev/null || break
        sleep 0.1
    done
    pid=$(pgrep -P "$wrapper" kvmbox)
}
# finish: waits for kvmbox to end; $rc its status.
finish() {
    wait "$wrapper"
    rc=$?
    wrapper=
}

# ---- API floods (tests/integration/api_flood.py), on a spinning guest.
exec 4> "$TMP/out"
start --kernel "$G/boot-pvh.elf" --cmdline spin
python3 "$(dirname "$0")/api_flood.py" "$S" "$pid" > "$TMP/flood" 2> "$TMP/flood.err"
sed 's/^/# /' "$TMP/flood" "$TMP/flood.err"
v() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/flood"; }
base=$(v rss_base)
check "${NAMES[0]}" eval '[ "$(v ping_before)" = 200 ] && [ "$(v held_open)" = 32 ] &&
    [ "$(v ping_held)" = 0 ] && [ "$(v ping_after_held)" = 200 ] &&
    [ $(( $(v rss_held) - base )) -lt $((2 * MIB)) ]'
check "${NAMES[1]}" eval '[ "$(v refused)" = 413,414,431,431,413 ]'
check "${NAMES[2]}" eval '[ "$(v stream_answered)" = 2300 ] && [ "$(v ping_unread)" = 200 ] &&
    [ "$(v ping_after)" = 200 ] && [ $(( $(v rss_unread) - base )) -lt $((8 * MIB)) ] &&
    [ $(( $(v rss_after) - base )) -lt $((8 * MIB)) ]'
# The documented most: 32 bodies of 4 MiB (and each connection's own
# buffers), plus the same 8 MiB of slack.
check "${NAMES[3]}" eval '[ "$(v bodies_answered1)" = 32 ] && [ "$(v bodies_answered2)" = 32 ] &&
    [ "$(v ping_after_bodies2)" = 200 ] &&
    [ $(( $(v rss_bodies1) - base )) -lt $((32 * (4 * MIB + 64) + 8 * MIB)) ] &&
    [ $(( $(v rss_bodies2) - base )) -lt $((32 * (4 * MIB + 64) + 8 * MIB)) ] &&
    [ $(( $(v rss_after_bodies2) - base )) -lt $((8 * MIB)) ]'
api PUT vmm.shutdown
finish
exec 4>&-

# ---- Console output into a pipe that is never read (held open on fd 4).
mkfifo "$TMP/pipe"
exec 4<> "$TMP/pipe"
FLOOD=$((1536 * 1024))              # bytes: console_flood.S's FLOOD_BYTES
start --kernel "$G/console-flood.elf" --debug-exit
base=$(rss "$pid") peak=0 pings=
while kill -0 "$pid" 2>/dev/null; do
    r=$(rss "$pid")
    [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
    [ -z "$pings" ] && [ $((peak - base)) -gt 128 ] && { api GET vmm.ping; pings=$code; }
    sleep 0.2
done
finish
dropped=$(sed -nE 's/.*: ([0-9]+) bytes of guest console output were dropped.*/\1/p' "$TMP/err")
echo "#   VmRSS $base KiB at the start, at most $peak KiB; $dropped of $FLOOD bytes dropped; ping $pings"
# Memory: the ring (256 KiB) and as much again of slack. What the pipe
# took (64 KiB at most) is all that was not dropped.
check "${NAMES[4]}" eval '[ "$rc" = 33 ] && [ "$pings" = 200 ] &&
    [ $((peak - base)) -lt $((256 + 256)) ] &&
    [ "${dropped:-0}" -le "$FLOOD" ] && [ "${dropped:-0}" -ge $((FLOOD - 65536)) ]'

# The same flood, without the debug-exit device to end it: it never stops.
start --kernel "$G/console-flood.elf"
up=$code
sleep 3                              # long enough to fill the ring
api GET vmm.ping
kill -TERM "$pid"
finish
exec 4>&-
check "${NAMES[5]}" eval '[ "$up" = 200 ] && [ "$code" = 200 ] && [ "$rc" = 143 ] &&
    grep -q "terminating on signal 15" "$TMP/err" && grep -q "bytes of guest console output were dropped" "$TMP/err"'

# ---- Frames for a guest that takes none: the test guest learns its peer
# (so slirp knows where to send), posts its 16 receive buffers and spins.
# A forwarded UDP port is flooded from the host for a few seconds.
PORT=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
exec 4> "$TMP/out"
start --kernel "$G/boot-pvh.elf" --memory 128M --net "user,hostfwd=udp:127.0.0.1:$PORT-:7" \
    --cmdline "kvmbox-test virtio expect_virtio=1 net_ip=10.0.2.15 net_peer=10.0.2.2 spin"
for _ in $(seq 300); do grep -q "spin: running" "$TMP/out" && break; sleep 0.1; done
base=$(rss "$pid")
# Prints the datagrams sent, and how many of them kvmbox's socket took
# (the kernel counts those it dropped for want of a reader).
taken=$(python3 - "$PORT" <<'PYEOF'
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setblocking(False)
sent, end = 0, time.time() + 3
while time.time() < end:
    try:
        s.sendto(b"u" * 1400, ("127.0.0.1", port))
        sent += 1
    except BlockingIOError:
        time.sleep(0.001)
drops = [int(l.split()[-1]) for l in open("/proc/net/udp")
         if l.split()[1].upper() == "0100007F:%04X" % port]
print(sent, sent - drops[0] if drops else 0)
PYEOF
)
after=$(rss "$pid")
api GET vm.counters; counters=$body
api GET vmm.ping
api PUT vmm.shutdown
finish
exec 4>&-
rx=$(echo "$counters" | sed -nE 's/.*"_net0":\{[^}]*"rx_frames":([0-9]+).*/\1/p')
echo "#   VmRSS $base KiB, then $after KiB; datagrams sent and taken in: $taken; frames to the guest: $rx"
check "${NAMES[6]}" eval '[ "$code" = 200 ] && [ "${taken#* }" -gt 10000 ] && [ "${rx:-99}" -le 20 ] &&
    [ $((after - base)) -lt $((2 * MIB)) ] && grep -q "ARP request out, the peer.s reply in" "$TMP/out"'

# ---- Block requests as fast as the guest can make them, its queue kept
# full (virtio_check.c's blk_flood: 64 KiB reads).
head -c $((1024 * 1024)) /dev/zero > "$TMP/flood.img"
exec 4> "$TMP/out"
start --kernel "$G/boot-pvh.elf" --memory 64M --debug-exit --disk path="$TMP/flood.img" \
    --cmdline "kvmbox-test virtio expect_virtio=1 blk_flood=40000"
for _ in $(seq 600); do grep -Eq "blk_flood: [0-9]+ of" "$TMP/out" && break; sleep 0.05; done
base=$(rss "$pid") peak=0 pings=
while kill -0 "$pid" 2>/dev/null; do
    r=$(rss "$pid")
    [ -n "$r" ] && [ "$r" -gt "$peak" ] && peak=$r
    [ -z "$pings" ] && { api GET vmm.ping; pings=$code; }
    sleep 0.2
done
finish
exec 4>&-
grep "blk_flood: 40000 requests" "$TMP/out" | sed 's/^/# /'
echo "#   VmRSS $base KiB after 4096 requests, at most $peak KiB; ping $pings"
check "${NAMES[7]}" eval '[ "$rc" = 33 ] && [ "$pings" = 200 ] && [ "$base" -gt 0 ] &&
    [ $((peak - base)) -lt $((2 * MIB)) ] && grep -q "blk_flood: 40000 requests, at most [0-9]* in flight" "$TMP/out"'
exit 0
