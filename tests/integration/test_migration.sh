#!/usr/bin/env bash
# Live migration on the host tier (issue 13): a guest that rewrites and
# verifies a pattern over MiB of RAM, a counting guest, 4 vCPUs and a
# guest writing its disk, each moved mid-run between two kvmbox processes
# (tcp: loopback, unix:) and finishing on the destination with nothing
# lost. Faults (nobody listening, the destination or the source killed
# mid-stream, the destination killed at the switch-over, a stream of
# garbage) leave the source VM running and the destination usable; a
# second attempt works. Refusals and the event monitor's events; a
# migration across two network namespaces joined by a rate-limited veth.
. "$(dirname "$0")/lib.sh"

NAMES=("migration: tcp: the pattern guest moved mid-run finishes on the destination, every round verified once (204, 204, source exits 0)"
       "migration: unix: the counting guest moved mid-count counts on to the same checksum"
       "migration: 4 vCPUs after SMP bring-up, moved mid-pattern: every check passes on the destination"
       "migration: a guest writing its disk (shared file) moved mid-write: its checks pass on the destination, the file holds its writes"
       "migration: nobody listening at the destination: 500 naming it; the VM runs on and finishes"
       "migration: the destination killed mid-precopy: 500; the VM runs on and finishes on the source"
       "migration: the destination killed at the switch-over (its digest checked): 500; the VM runs on and finishes"
       "migration: the source killed mid-precopy: the receive answers 500; the destination stays empty and usable"
       "migration: a stream of garbage: the receive answers 500 naming it; a real migration into the same kvmbox then works"
       "migration: after failed attempts, a second attempt from the same source succeeds"
       "migration: receive-migration into a kvmbox that has a VM: 500"
       "migration: send-migration from an empty kvmbox: 404"
       "migration: bad send bodies get 400 (no destination_url, local=true over tcp:, a bad timeout_strategy); bad receive bodies too"
       "migration: events: the source has migration-started, migration-completed; the destination receiving, received"
       "migration: events: a failed migration has migration-failed on the source, receive-failed on the destination"
       "migration: across two network namespaces joined by a 100mbit veth: the pattern guest finishes on the destination"
       "migration: tls_dir on both sides: the counting guest moved over TLS counts on to the same checksum; a sender without TLS and one whose certificate another CA signed are refused, saying why"
       "migration: local (unix:, local=on, shared=on memory): the memfd is handed over, the counting guest counts on to the same checksum; ctl reports the memory handed over, not copied"
       "migration: local=on for a VM whose memory is not shared: 500 naming shared=on; the VM runs on"
       "migration: while it runs (a destination that never answers): vm.migration-progress says running, vm.pause is refused, vm.cancel-migration stops it: the send answers 500, progress says cancelled, the VM runs on and finishes"
       "migration: auto-converge: a guest dirtying faster than a 20mbit veth carries is slowed down (migration-throttled) and moved; every round verified once"
       "migration: a destination without the memory for the VM refuses before any memory moves (500 naming it on both sides); the VM runs on and finishes"
       "migration: SIGTERM while a migration waits on its destination: the send still answers (500, kvmbox is exiting) and the source exits 143")
api_tests_need_curl

MIB=1048576
PASS="guest: all [0-9]+ checks passed"
# Ports for this run, away from the well-known ones; a collision only
# fails a check, it cannot hang one.
PORT=$((20000 + $$ % 20000))
next_port() { PORT=$((PORT + 1)); }
# pattern R [CMDLINE...]: the pattern guest's options in PAT: 4 MiB, R
# rounds, ~0.2 s a round on a PVM host. Under kvmbox-test the guest exits
# with 0x10, kvmbox with 33.
pattern() {
    local r=$1
    shift
    PAT=(--kernel "$G/boot-pvh.elf" --debug-exit --cmdline "kvmbox-test pattern_mib=4 rounds=$r $*")
}
# Run kvmbox under this (ip netns exec NS) when set.
WRAP=()

# start NAME ARGS...: a kvmbox in the background with an API socket
# ($TMP/NAME.sock, also in $S) and an event monitor ($TMP/NAME.ev);
# stdout/stderr in $TMP/NAME.out/.err; the pid of its timeout wrapper in
# pid_NAME.
start() {
    local name=$1
    shift
    S=$TMP/$name.sock
    timeout -k 5 "$LIMIT" "${WRAP[@]}" "$KVMBOX" run --api-socket "$S" --event-monitor path="$TMP/$name.ev" "$@" \
        < /dev/null > "$TMP/$name.out" 2> "$TMP/$name.err" &
    printf -v "pid_$name" %s $!
    for _ in $(seq 200); do [ -S "$S" ] && break; sleep 0.05; done
}
# The kvmbox under NAME's timeout wrapper (for a SIGKILL by id).
kvmbox_pid() { local w="pid_$1"; pgrep -P "${!w}"; }
# finish NAME: wait for it; its status in $rc.
finish() { local w="pid_$1"; wait "${!w}" 2>/dev/null; rc=$?; }
# sock NAME: point api() at NAME's socket.
sock() { S=$TMP/$1.sock; }
events_of() { sed -E 's/.*"event":"([a-z-]+)".*/\1/' "$1" | tr '\n' ' '; }

# receive NAME URL [MORE-JSON]: NAME's vm.receive-migration in the background (it
# answers only when the VM arrived or the attempt failed); wait_listen
# waits until it listens. The answer: received NAME -> $rcode, $rbody.
receive() {
    curl -s --max-time 60 --unix-socket "$TMP/$1.sock" -X PUT -w '\n%{http_code}' \
        -d "{\"receiver_url\":\"$2\"${3:+,$3}}" http://localhost/api/v1/vm.receive-migration \
        > "$TMP/$1.recv" 2>/dev/null &
    printf -v "recv_$1" %s $!
    wait_listen "$2"
}
wait_listen() {
    for _ in $(seq 250); do
        case $1 in
        unix:*) [ -S "${1#unix:}" ] && return 0 ;;
        tcp:*) "${WRAP[@]}" ss -Hltn "sport = :${1##*:}" 2>/dev/null | grep -q . && return 0 ;;
        esac
        sleep 0.02
    done
    return 1
}
received() {
    local w="recv_$1"
    wait "${!w}" 2>/dev/null
    rcode=$(tail -n1 "$TMP/$1.recv")
    rbody=$(sed '$d' "$TMP/$1.recv")
}
# send NAME URL [MORE-JSON]: NAME's vm.send-migration, in the foreground.
send() { sock "$1"; api PUT vm.send-migration "{\"destination_url\":\"$2\"${3:+,$3}}"; }
# send_running NAME URL: NAME's vm.send-migration in the background (its
# answer, code on the last line, in $TMP/NAME.send; the curl in
# $send_pid), once vm.migration-progress says it runs (that answer in $body).
send_running() {
    sock "$1"
    curl -s --max-time 60 --unix-socket "$S" -X PUT -w '\n%{http_code}' \
        -d "{\"destination_url\":\"$2\"}" http://localhost/api/v1/vm.send-migration \
        > "$TMP/$1.send" 2>/dev/null &
    send_pid=$!
    for _ in $(seq 250); do
        api GET vm.migration-progress
        grep -q '"status":"running"' <<< "$body" && break
        sleep 0.02
    done
}

# rounds_once FILE...: the rounds printed across the files are 0..R-1,
# each exactly once, and the last file says all R were verified.
rounds_once() {
    local r=$1
    shift
    local got want
    got=$(cat "$@" | tr -d '\r' | sed -nE 's/^pattern: round ([0-9]+)$/\1/p' | tr '\n' ' ')
    want=$(seq 0 $((r - 1)) | tr '\n' ' ')
    [ "$got" = "$want" ] || { echo "#   rounds printed: $got"; return 1; }
    grep -q "pattern: all $r rounds verified" "${!#}" && ! grep -q MISMATCH "$@"
}
# moved FILE: the destination's part has no start of its own (no boot, no round 0).
moved() { ! grep -Eq "kvmbox test guest|pattern: round 0[[:space:]]*$|counting to" "$1"; }

# The fault injector: a TCP proxy that forwards the migration stream
# message by message (migration_stream.h's framing) and, at the Nth
# message of a type in one direction, SIGKILLs a process before passing
# that message on, then cuts both sides as the dead process's kernel would.
cat > "$TMP/proxy.py" <<'EOF'
import os, signal, socket, struct, sys, threading
lport, tport, direction, mtype, nth, victim = sys.argv[1:7]
mtype, nth, victim = int(mtype), int(nth), int(victim)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(('127.0.0.1', int(lport))); ls.listen(1)
print('listening', flush=True)
a, _ = ls.accept()
b = socket.create_connection(('127.0.0.1', int(tport)))
seen = 0
lock = threading.Lock()
def read(s, n):
    buf = b''
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d: raise EOFError
        buf += d
    return buf
def pump(src, dst, name):
    global seen
    try:
        while True:
            hdr = read(src, 16)
            _, t, flags, ln = struct.unpack('<IHHQ', hdr)
            body = read(src, ln + 8)
            with lock:
                if name == direction and t == mtype and not (t == 4 and flags & 1):
                    seen += 1
                    if seen == nth:
                        os.kill(victim, signal.SIGKILL)
                        print('killed', flush=True)
                        for s in (a, b): s.shutdown(socket.SHUT_RDWR)
                        return
            dst.sendall(hdr + body)
    except (EOFError, OSError):
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
threading.Thread(target=pump, args=(b, a, 'back'), daemon=True).start()
pump(a, b, 'fwd')
EOF
# proxy TO-PORT DIRECTION TYPE NTH PID: the injector on $PORT, forwarding
# to TO-PORT; killing PID at that message (fwd: source to destination).
proxy() {
    python3 "$TMP/proxy.py" "$PORT" "$@" > "$TMP/proxy.out" 2>&1 &
    proxy_pid=$!
    wait_for "$TMP/proxy.out" listening
}

# ---- 1: tcp:, the pattern guest ----
R=25
pattern $R
start s1 "${PAT[@]}"
start d1
receive d1 "tcp:127.0.0.1:$PORT"
wait_for "$TMP/s1.out" "pattern: round 1[[:space:]]*$"
send s1 "tcp:127.0.0.1:$PORT" '"downtime_ms":300,"timeout_s":3600,"timeout_strategy":"Cancel"'
scode=$code sbody=$body
received d1
finish s1; src_rc=$rc
finish d1
echo "# tcp: the source stopped after $(grep -c '^pattern: round' "$TMP/s1.out") rounds; send $scode, receive $rcode"
check "${NAMES[0]}" eval '[ "$scode" = 204 ] && [ "$rcode" = 204 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
    rounds_once $R "$TMP/s1.out" "$TMP/d1.out" && moved "$TMP/d1.out" && grep -Eq "$PASS" "$TMP/d1.out"'
if [ "$scode" != 204 ] || [ "$rcode" != 204 ]; then
    echo "#   send: $sbody; receive: $rbody"; cat "$TMP/s1.err" "$TMP/d1.err" | sed 's/^/#   /' | tail -10
fi
ev_s=$(events_of "$TMP/s1.ev") ev_d=$(events_of "$TMP/d1.ev")
check "${NAMES[13]}" eval '[[ "$ev_s" == *"migration-started "*"migration-completed "* ]] &&
    [[ "$ev_d" == *"receiving "*"received "* ]] || { echo "#   source: $ev_s"; echo "#   destination: $ev_d"; false; }'

# ---- 2: unix:, the counting guest ----
DONE="count_to: reached 300000, page checksum da2f6200"
start s2 --kernel "$G/boot-pvh.elf" --debug-exit --cmdline "kvmbox-test count_to=300000"
start d2
receive d2 "unix:$TMP/mig2.sock"
wait_for "$TMP/s2.out" "count_to: 60000[[:space:]]*$"
send s2 "unix:$TMP/mig2.sock"
scode=$code
received d2
finish s2; src_rc=$rc
finish d2
first=$(tr -d '\r' < "$TMP/d2.out" | sed -nE 's/^count_to: ([0-9]+)$/\1/p' | head -n1)
check "${NAMES[1]}" eval '[ "$scode" = 204 ] && [ "$rcode" = 204 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
    [ "${first:-0}" -gt 60000 ] && grep -q "$DONE" "$TMP/d2.out" && moved "$TMP/d2.out" &&
    grep -Eq "$PASS" "$TMP/d2.out" || { echo "#   receive $rcode $rbody; destination first count ${first:-none}"; false; }'

# ---- 3: 4 vCPUs ----
next_port
pattern 25 smp expect_cpus=4
start s3 --cpus 4 --memory 64M "${PAT[@]}"
start d3
receive d3 "tcp:127.0.0.1:$PORT"
wait_for "$TMP/s3.out" "pattern: round 1[[:space:]]*$"
send s3 "tcp:127.0.0.1:$PORT"
scode=$code
received d3
finish s3; src_rc=$rc
finish d3
check "${NAMES[2]}" eval '[ "$scode" = 204 ] && [ "$rcode" = 204 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
    grep -q "smp: 3 of 3 APs arrived, counter 4000" "$TMP/s3.out" && rounds_once 25 "$TMP/s3.out" "$TMP/d3.out" &&
    moved "$TMP/d3.out" && grep -Eq "$PASS" "$TMP/d3.out" && ! grep -q FAILED "$TMP/d3.out" ||
    { echo "#   receive $rcode $rbody"; false; }'

# ---- 4: disk writes during the migration ----
# test_virtio.sh's disk: 64 KiB the guest reads and cksums, its pattern
# written at 1 MiB (seconds on a PVM host), zeroes at 6 MiB, a discard at 7.
next_port
head -c $((8 * MIB)) /dev/urandom > "$TMP/rw.img"
HEAD=$(head -c 65536 "$TMP/rw.img" | cksum | cut -d' ' -f1)
start s4 --kernel "$G/boot-pvh.elf" --memory 128M --debug-exit --disk path="$TMP/rw.img",serial=kvmbox-disk0 \
    --cmdline "kvmbox-test virtio expect_virtio=1 blk_serial=kvmbox-disk0 blk_bytes=$((8 * MIB)) blk_head=$HEAD"
start d4
receive d4 "tcp:127.0.0.1:$PORT"
wait_for "$TMP/s4.out" "first 65536 bytes read"
sleep 0.5
send s4 "tcp:127.0.0.1:$PORT"
scode=$code
received d4
finish s4; src_rc=$rc
finish d4
if grep -q "a few MiB written\|bytes at 1048576: written" "$TMP/d4.out"; then
    echo "# disk: the migration caught the guest writing its pattern"
fi
disk_pattern_ok "$TMP/rw.img"; file_ok=$?
check "${NAMES[3]}" eval '[ "$scode" = 204 ] && [ "$rcode" = 204 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
    grep -Eq "$PASS" "$TMP/d4.out" && ! grep -q FAILED "$TMP/d4.out" && [ "$file_ok" = 0 ] ||
    { echo "#   receive $rcode $rbody; file as written: $file_ok (0 is yes)"; false; }'

# ---- 5: faults; one source VM lives through them all ----
R=60
pattern $R
start s5 "${PAT[@]}"
wait_for "$TMP/s5.out" "pattern: round 1[[:space:]]*$"
# a) nobody listens
next_port
send s5 "tcp:127.0.0.1:$PORT"
scode=$code sbody=$body
sock s5; api GET vm.info; state=$(sed -E 's/.*"state":"([A-Za-z]+)".*/\1/' <<< "$body")
check "${NAMES[4]}" eval '[ "$scode" = 500 ] && grep -q "127.0.0.1:$PORT" <<< "$sbody" &&
    grep -Eqi "refused|connect" <<< "$sbody" && [ "$state" = Running ] || { echo "#   send $scode $sbody; state $state"; false; }'
echo "# nobody listening: $sbody"
# b) the destination killed at the first PAGES run with data
start d5b
next_port; dport=$PORT; next_port
receive d5b "tcp:127.0.0.1:$dport"
proxy "$dport" fwd 4 1 "$(kvmbox_pid d5b)"
rounds_before=$(grep -c '^pattern: round' "$TMP/s5.out")
send s5 "tcp:127.0.0.1:$PORT" '"downtime_ms":1'
scode=$code sbody=$body
wait "$proxy_pid" 2>/dev/null; received d5b; finish d5b; d_rc=$rc
sock s5; api GET vm.info; state=$(sed -E 's/.*"state":"([A-Za-z]+)".*/\1/' <<< "$body")
sleep 0.5
rounds_after=$(grep -c '^pattern: round' "$TMP/s5.out")
check "${NAMES[5]}" eval '[ "$scode" = 500 ] && [ "$d_rc" = 137 ] && grep -q killed "$TMP/proxy.out" &&
    [ "$state" = Running ] && [ "$rounds_after" -gt "$rounds_before" ] ||
    { echo "#   send $scode $sbody; destination status $d_rc; $(cat "$TMP/proxy.out")"; false; }'
echo "# the destination killed mid-precopy: $sbody"
# c) the destination killed when its DIGEST_OK is on the way back
start d5c
next_port; dport=$PORT; next_port
receive d5c "tcp:127.0.0.1:$dport"
proxy "$dport" back 8 1 "$(kvmbox_pid d5c)"
send s5 "tcp:127.0.0.1:$PORT"
scode=$code sbody=$body
wait "$proxy_pid" 2>/dev/null; received d5c; finish d5c; d_rc=$rc
sock s5; api GET vm.info; state=$(sed -E 's/.*"state":"([A-Za-z]+)".*/\1/' <<< "$body")
check "${NAMES[6]}" eval '[ "$scode" = 500 ] && [ "$d_rc" = 137 ] && grep -q killed "$TMP/proxy.out" &&
    [ "$state" = Running ] || { echo "#   send $scode $sbody; state $state; $(cat "$TMP/proxy.out")"; false; }'
echo "# the destination killed at the switch-over: $sbody"
# garbage into a waiting receiver, then a real migration into it
start d5g
next_port
receive d5g "tcp:127.0.0.1:$PORT"
python3 - "$PORT" <<'EOF'
import socket, sys
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(b'GET / HTTP/1.1\r\nHost: kvmbox\r\n\r\n' + bytes(range(256)) * 64)
s.settimeout(10)
try:
    while s.recv(4096): pass
except OSError: pass
EOF
received d5g
g_code=$rcode g_body=$rbody
echo "# garbage: $g_code $g_body"
receive d5g "tcp:127.0.0.1:$PORT"
send s5 "tcp:127.0.0.1:$PORT"
scode=$code
received d5g
finish s5; src_rc=$rc
finish d5g
check "${NAMES[8]}" eval '[ "$g_code" = 500 ] && grep -Eqi "magic|HELLO|garbage|not a|protocol|checksum" <<< "$g_body" &&
    [ "$scode" = 204 ] && [ "$rcode" = 204 ] && [ "$rc" = 33 ] && grep -Eq "$PASS" "$TMP/d5g.out" ||
    { echo "#   garbage $g_code $g_body; send $scode, receive $rcode $rbody, destination status $rc"; false; }'
check "${NAMES[9]}" eval '[ "$scode" = 204 ] && [ "$src_rc" = 0 ] && rounds_once $R "$TMP/s5.out" "$TMP/d5g.out"'
ev_s=$(events_of "$TMP/s5.ev")

# d) the source killed mid-precopy; the destination stays usable
pattern 12
start s6 "${PAT[@]}"
start d6
next_port; dport=$PORT; next_port
receive d6 "tcp:127.0.0.1:$dport"
wait_for "$TMP/s6.out" "pattern: round 1[[:space:]]*$"
proxy "$dport" fwd 4 1 "$(kvmbox_pid s6)"
send s6 "tcp:127.0.0.1:$PORT" >/dev/null 2>&1
wait "$proxy_pid" 2>/dev/null; finish s6; s_rc=$rc
received d6
k_code=$rcode k_body=$rbody
sock d6; api GET vm.info; info_code=$code
api GET vmm.ping; ping_code=$code
kill "$(kvmbox_pid d6)"; finish d6
check "${NAMES[7]}" eval '[ "$s_rc" = 137 ] && [ "$k_code" = 500 ] && [ "$info_code" = 404 ] && [ "$ping_code" = 200 ] ||
    { echo "#   source status $s_rc; receive $k_code $k_body; vm.info $info_code, ping $ping_code"; false; }'
echo "# the source killed mid-precopy, the destination said: $k_body"
# (A destination killed leaves no events; one whose sender died says so.)
ev_d=$(events_of "$TMP/d6.ev")
check "${NAMES[14]}" eval '[[ "$ev_s" == *"migration-failed "*"migration-completed "* ]] &&
    [[ "$ev_d" == *"receiving "*"receive-failed "* ]] || { echo "#   source: $ev_s"; echo "#   destination: $ev_d"; false; }'

# ---- 6: refusals ----
start s7 "${PAT[@]}"
start e7
sock s7
api PUT vm.receive-migration '{"receiver_url":"tcp:127.0.0.1:1"}'
check "${NAMES[10]}" eval '[ "$code" = 500 ]'
sock e7
api PUT vm.send-migration '{"destination_url":"tcp:127.0.0.1:1"}'
check "${NAMES[11]}" eval '[ "$code" = 404 ]'
bad=
sock s7
for b in '{}' '{"destination_url":"tcp:127.0.0.1:1","local":true}' \
    '{"destination_url":"tcp:127.0.0.1:1","timeout_strategy":"Sometimes"}' \
    '{"destination_url":5}' '{"destination_url":"tcp:127.0.0.1:1","downtime_ms":-1}' 'not json'; do
    api PUT vm.send-migration "$b"
    [ "$code" = 400 ] || bad="$bad send:$b->$code"
    [[ $b == *local* ]] && ! grep -q "must be unix:" <<< "$body" && bad="$bad local:$body"
done
sock e7
for b in '{}' '{"receiver_url":"ftp:x"}' '{"receiver_url":"tcp:nohost"}' 'not json'; do
    api PUT vm.receive-migration "$b"
    [ "$code" = 400 ] || bad="$bad receive:$b->$code"
done
api GET vmm.ping; [ "$code" = 200 ] || bad="$bad ping:$code"
finish s7
[ "$rc" = 33 ] || bad="$bad source-status:$rc"
check "${NAMES[12]}" eval '[ -z "$bad" ] || { echo "#  $bad"; false; }'
kill "$(kvmbox_pid e7)"; finish e7

# ---- 7: local migration (live upgrade), progress and cancel ----
start s9 --memory size=256M,shared=on --kernel "$G/boot-pvh.elf" --debug-exit --cmdline "kvmbox-test count_to=300000"
start d9
receive d9 "unix:$TMP/mig9.sock"
wait_for "$TMP/s9.out" "count_to: 60000[[:space:]]*$"
"$KVMBOX" ctl --api-socket "$TMP/s9.sock" send-migration "destination_url=unix:$TMP/mig9.sock,local=on" \
    > "$TMP/ctl9.out" 2> "$TMP/ctl9.err"
ctl_rc=$?
received d9
finish s9; src_rc=$rc
finish d9
first=$(tr -d '\r' < "$TMP/d9.out" | sed -nE 's/^count_to: ([0-9]+)$/\1/p' | head -n1)
check "${NAMES[17]}" eval '[ "$ctl_rc" = 0 ] && [ "$rcode" = 204 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
    [ "${first:-0}" -gt 60000 ] && grep -q "$DONE" "$TMP/d9.out" && moved "$TMP/d9.out" &&
    grep -q "memory handed over, not copied" "$TMP/ctl9.out" ||
    { echo "#   ctl $ctl_rc $(cat "$TMP/ctl9.out" "$TMP/ctl9.err"); receive $rcode $rbody"; false; }'
sed 's/^/# /' "$TMP/ctl9.out"

# A destination that takes connections and never answers: a local=on
# migration of ordinary memory is refused before it; a plain one waits
# for the destination's HELLO_ACK until cancelled.
python3 -c '
import socket, sys, threading
ls = socket.socket(socket.AF_UNIX); ls.bind(sys.argv[1]); ls.listen(4)
print("listening", flush=True)
def drain(c):
    while c.recv(65536): pass
while True:
    c, _ = ls.accept(); threading.Thread(target=drain, args=(c,), daemon=True).start()
' "$TMP/silent.sock" > "$TMP/silent.out" 2>&1 &
silent_pid=$!
wait_for "$TMP/silent.out" listening
start s10 --kernel "$G/boot-pvh.elf" --debug-exit --cmdline "kvmbox-test count_to=300000"
wait_for "$TMP/s10.out" "count_to: 30000[[:space:]]*$"
send s10 "unix:$TMP/silent.sock" '"local":true'
scode=$code sbody=$body
api GET vm.info
check "${NAMES[18]}" eval '[ "$scode" = 500 ] && grep -q "shared=on" <<< "$sbody" && grep -q Running <<< "$body" ||
    { echo "#   send $scode $sbody"; false; }' 2>/dev/null
send_running s10 "unix:$TMP/silent.sock"
progress=$body
api PUT vm.pause; pause_code=$code pause_body=$body
api PUT vm.cancel-migration; cancel_code=$code
wait $send_pid
scode=$(tail -n1 "$TMP/s10.send") sbody=$(sed '$d' "$TMP/s10.send")
api GET vm.migration-progress; after=$body
api PUT vm.cancel-migration; again=$code
finish s10
check "${NAMES[19]}" eval '[[ $progress == *\"status\":\"running\"* ]] && [ "$pause_code" = 500 ] &&
    grep -q "migration is in progress" <<< "$pause_body" && [ "$cancel_code" = 204 ] &&
    [ "$scode" = 500 ] && grep -q cancelled <<< "$sbody" && [[ $after == *\"status\":\"cancelled\"* ]] &&
    [ "$again" = 500 ] && [ "$rc" = 33 ] && grep -q "$DONE" "$TMP/s10.out" ||
    { echo "#   progress $progress; pause $pause_code $pause_body; cancel $cancel_code; send $scode $sbody";
      echo "#   after $after; cancel again $again; source status $rc"; false; }'
echo "# while it ran: $progress"

# The same destination, and the source told to stop meanwhile: the
# migration's request gets its answer before kvmbox is gone.
start s10b --kernel "$G/boot-pvh.elf" --debug-exit --cmdline "kvmbox-test count_to=300000"
wait_for "$TMP/s10b.out" "count_to: 30000[[:space:]]*$"
send_running s10b "unix:$TMP/silent.sock"
kill -TERM "$(kvmbox_pid s10b)"
wait $send_pid
finish s10b
scode=$(tail -n1 "$TMP/s10b.send") sbody=$(sed '$d' "$TMP/s10b.send")
check "${NAMES[22]}" eval '[ "$scode" = 500 ] && grep -q "kvmbox is exiting" <<< "$sbody" && [ "$rc" = 143 ] ||
    { echo "#   send $scode $sbody; source status $rc"; false; }'
kill $silent_pid 2>/dev/null

# A destination that cannot map the guest's memory (its address space
# limited below the VM's 1 GiB) says so before any memory moves. (Not
# under ASan, whose shadow memory needs far more address space than that.)
next_port
if grep -q __asan_init "$KVMBOX"; then
    skip "${NAMES[21]}" "an ASan build cannot run with its address space limited"
else
start s12 --memory 1G --kernel "$G/boot-pvh.elf" --debug-exit --cmdline "kvmbox-test count_to=300000"
WRAP=(prlimit --as=$((640 * MIB)))
start d12
WRAP=()
receive d12 "tcp:127.0.0.1:$PORT"
wait_for "$TMP/s12.out" "count_to: 30000[[:space:]]*$"
send s12 "tcp:127.0.0.1:$PORT"
scode=$code sbody=$body
received d12
sock d12; api GET vmm.ping; dping=$code
finish s12
kill "$(kvmbox_pid d12)" 2>/dev/null; finish d12
check "${NAMES[21]}" eval '[ "$scode" = 500 ] && grep -q "cannot build the VM" <<< "$sbody" &&
    [ "$rcode" = 500 ] && grep -q "cannot build the VM" <<< "$rbody" && [ "$dping" = 200 ] &&
    grep -q "$DONE" "$TMP/s12.out" || { echo "#   send $scode $sbody; receive $rcode $rbody; ping $dping"; false; }'
echo "# no memory at the destination: $sbody"
fi

# ---- 8: two network namespaces, a rate-limited veth ----
ns=kvmbox-mig-$$
if ! command -v ip > /dev/null || ! command -v tc > /dev/null || ! ip netns add "$ns-a" 2>/dev/null; then
    skip "${NAMES[15]}" "no ip netns or tc here"
    skip "${NAMES[20]}" "no ip netns or tc here"
elif ! { ip netns add "$ns-b" && ip link add "v$$a" netns "$ns-a" type veth peer name "v$$b" netns "$ns-b" &&
        ip -n "$ns-a" addr add 10.99.0.1/24 dev "v$$a" && ip -n "$ns-b" addr add 10.99.0.2/24 dev "v$$b" &&
        ip -n "$ns-a" link set "v$$a" up && ip -n "$ns-b" link set "v$$b" up &&
        ip -n "$ns-a" link set lo up && ip -n "$ns-b" link set lo up &&
        tc -n "$ns-a" qdisc add dev "v$$a" root tbf rate 100mbit burst 256kb latency 50ms; } 2>"$TMP/ns.err"; then
    skip "${NAMES[15]}" "cannot set up the namespaces: $(head -n1 "$TMP/ns.err")"
    skip "${NAMES[20]}" "cannot set up the namespaces"
else
    pattern 25
    WRAP=(ip netns exec "$ns-a")
    start s8 "${PAT[@]}"
    WRAP=(ip netns exec "$ns-b")
    start d8
    receive d8 "tcp:10.99.0.2:$PORT"
    WRAP=()
    wait_for "$TMP/s8.out" "pattern: round 1[[:space:]]*$"
    send s8 "tcp:10.99.0.2:$PORT"
    scode=$code sbody=$body
    received d8
    finish s8; src_rc=$rc
    finish d8
    check "${NAMES[15]}" eval '[ "$scode" = 204 ] && [ "$rcode" = 204 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
        rounds_once 25 "$TMP/s8.out" "$TMP/d8.out" || { echo "#   send $scode $sbody; receive $rcode $rbody"; false; }'

    # Auto-converge: the pattern guest rewrites 4 MiB every ~0.2 s, far
    # more than 20 Mbit/s carries; with a 50 ms pause allowed the
    # migration converges only once the vCPUs are slowed down.
    next_port
    tc -n "$ns-a" qdisc change dev "v$$a" root tbf rate 20mbit burst 64kb latency 50ms
    pattern 80
    WRAP=(ip netns exec "$ns-a")
    start s11 "${PAT[@]}"
    WRAP=(ip netns exec "$ns-b")
    start d11
    receive d11 "tcp:10.99.0.2:$PORT"
    WRAP=()
    wait_for "$TMP/s11.out" "pattern: round 1[[:space:]]*$"
    send s11 "tcp:10.99.0.2:$PORT" '"downtime_ms":50'
    scode=$code sbody=$body
    received d11
    finish s11; src_rc=$rc
    finish d11
    throttled=$(grep -o '"throttle_pct":[0-9]*' "$TMP/s11.ev" | tail -n1)
    check "${NAMES[20]}" eval '[ "$scode" = 204 ] && [ "$rcode" = 204 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
        [ -n "$throttled" ] && rounds_once 80 "$TMP/s11.out" "$TMP/d11.out" ||
        { echo "#   send $scode $sbody; receive $rcode $rbody; $throttled"; false; }'
    echo "# auto-converge: the last step $throttled; rounds at the source $(grep -c "^pattern: round" "$TMP/s11.out")"
fi
ip netns del "$ns-a" 2>/dev/null
ip netns del "$ns-b" 2>/dev/null

# ---- 9: tls_dir (certificates from tests/support/make_tls_certs.sh) ----
mkdir -p "$TMP/tls"
if ! command -v openssl > /dev/null || ! sh "$(dirname "$0")/../support/make_tls_certs.sh" "$TMP/tls"; then
    skip "${NAMES[16]}" "no openssl to make certificates"
else
    next_port
    url="tcp:127.0.0.1:$PORT" good="\"tls_dir\":\"$TMP/tls/good\""
    start s9 --kernel "$G/boot-pvh.elf" --debug-exit --cmdline "kvmbox-test count_to=300000"
    start d9
    wait_for "$TMP/s9.out" "count_to: 30000[[:space:]]*$"
    # A sender without tls_dir, then one with a certificate from CA 2.
    receive d9 "$url" "$good"
    send s9 "$url"
    plain="$code $body"
    received d9
    plain_r="$rcode $rbody"
    receive d9 "$url" "$good"
    send s9 "$url" "\"tls_dir\":\"$TMP/tls/rogue\""
    rogue="$code $body"
    received d9
    rogue_r="$rcode $rbody"
    # Then both with the good files; the receiver through kvmbox ctl.
    "$KVMBOX" ctl --api-socket "$TMP/d9.sock" receive-migration "receiver_url=$url,tls_dir=$TMP/tls/good" \
        > "$TMP/d9.ctl" 2>&1 &
    ctl_pid=$!
    wait_listen "$url"
    wait_for "$TMP/s9.out" "count_to: 60000[[:space:]]*$"
    send s9 "$url" "$good"
    scode=$code sbody=$body
    wait "$ctl_pid"; ctl_rc=$?
    finish s9; src_rc=$rc
    finish d9
    echo "# tls: a plaintext sender: $plain / the receiver: $plain_r"
    echo "# tls: a sender with CA 2's certificate: $rogue / the receiver: $rogue_r"
    check "${NAMES[16]}" eval '[[ $plain == 500*"requires TLS"* && $plain_r == 500*"does not use TLS"* ]] &&
        [[ $rogue == 500*"refused this side'"'"'s certificate"* && $rogue_r == 500*"not trusted"*"issuer is unknown"* ]] &&
        [ "$scode" = 204 ] && [ "$ctl_rc" = 0 ] && [ "$src_rc" = 0 ] && [ "$rc" = 33 ] &&
        grep -q "$DONE" "$TMP/d9.out" && moved "$TMP/d9.out" && grep -Eq "$PASS" "$TMP/d9.out" ||
        { echo "#   send $scode $sbody; ctl $ctl_rc: $(cat "$TMP/d9.ctl")"; false; }'
fi
exit 0
