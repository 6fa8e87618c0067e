#!/usr/bin/env bash
# --jail DIR (docs/security.md): kvmbox runs in mount, PID and IPC
# namespaces of its own with DIR its root once start-up is over. The
# guest runs on what start-up opened; the API serves on its socket; a
# snapshot lands inside DIR and cannot reach the host's directories; the
# status and SIGTERM pass through the parent left outside.
. "$(dirname "$0")/lib.sh"

NAMES=("jail: the VMM runs in its own PID, mount and IPC namespaces with DIR its root (PID 1 there); the guest's disk checks pass; its status comes out"
       "jail: a snapshot to file:///snap lands in DIR/snap; one to a host directory cannot reach it (500)"
       "jail: with --landlock too (a rule for a directory in the jail): a snapshot there works (sparse), one elsewhere in the jail is refused"
       "jail: SIGTERM to kvmbox stops the jailed VMM (status 143), leaving no process and no socket (outside the jail)"
       "jail: kvmbox (with --user too) killed outright (SIGKILL) takes the jailed VMM with it"
       "jail: a DIR that is not a directory is refused at once (status 1)")
api_tests_need_curl
if [ "$(id -u)" != 0 ]; then
    for n in "${NAMES[@]}"; do skip "$n" "needs root"; done
    exit 0
fi
MIB=1048576
DONE="count_to: reached 300000, page checksum da2f6200"
mkdir "$TMP/jail" "$TMP/host"
head -c $((8 * MIB)) /dev/urandom > "$TMP/disk.img"
HEAD=$(head -c 65536 "$TMP/disk.img" | cksum | cut -d' ' -f1)
ns() { readlink "/proc/$1/ns/$2"; }
# two_snapshots URL1 URL2: pause, a snapshot to each, resume, and wait for
# kvmbox to finish: the answers in c1 (pause), c2, c3, c4 (resume); its
# status in rc.
two_snapshots() {
    api PUT vm.pause; c1=$code
    api PUT vm.snapshot "{\"destination_url\":\"$1\"}"; c2=$code
    api PUT vm.snapshot "{\"destination_url\":\"$2\"}"; c3=$code
    api PUT vm.resume; c4=$code
    wait "$wrapper"
    rc=$?
}
# gone PID: no such process, or a zombie its new parent has yet to reap.
gone() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

S=$TMP/api.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --jail "$TMP/jail" --api-socket "$S" --kernel "$G/boot-pvh.elf" \
    --memory 64M --disk path="$TMP/disk.img",serial=j0 --debug-exit \
    --cmdline "kvmbox-test virtio blk_serial=j0 blk_bytes=$((8 * MIB)) blk_head=$HEAD count_to=300000" \
    > "$TMP/out" 2> "$TMP/err" < /dev/null &
wrapper=$!
wait_for "$TMP/out" "^count_to: 30000"
outside=$(pgrep -P "$wrapper" | head -n1)
inside=$(pgrep -P "$outside" | head -n1)
api GET vmm.ping; ping=$body
same=""
for t in pid mnt ipc; do [ "$(ns "$inside" $t)" = "$(ns $$ $t)" ] && same="$same $t"; done
root=$(stat -L -c %d:%i "/proc/$inside/root") jail=$(stat -c %d:%i "$TMP/jail")
two_snapshots "file:///snap" "file://$TMP/host/snap"
if [ -n "$inside" ] && [ -z "$same" ] && [ "$root" = "$jail" ] && [[ $ping == *'"pid":1,'* ]] &&
   [ "$rc" = 33 ] && grep -Eq "guest: all [0-9]+ checks passed" "$TMP/out"; then
    ok "${NAMES[0]}"
else
    echo "#   jailed pid ${inside:-none}, namespaces shared:${same:- none}, root $root (the jail $jail), ping $ping, status $rc"
    not_ok "${NAMES[0]}" "$TMP/err"
fi
if [ "$c1$c2$c4" = 204204204 ] && [ -f "$TMP/jail/snap/state" ] && [ "$c3" = 500 ] &&
   [ -z "$(ls -A "$TMP/host")" ]; then
    ok "${NAMES[1]}"
else
    echo "#   pause $c1, snapshot $c2 and $c3, resume $c4"
    not_ok "${NAMES[1]}" "$TMP/err"
fi

# Landlock and the jail together: the rule names a host path in the
# jail; the snapshot reads kvmbox's own pagemap in the jail's /proc.
mkdir -p "$TMP/jail2/snaps" "$TMP/jail2/other"
S=$TMP/api3.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --jail "$TMP/jail2" --landlock \
    --landlock-rules "path=$TMP/jail2/snaps,access=rw" --api-socket "$S" --kernel "$G/boot-pvh.elf" \
    --memory 64M --debug-exit --cmdline "count_to=300000" > "$TMP/out3" 2> "$TMP/err3" < /dev/null &
wrapper=$!
wait_for "$TMP/out3" "^count_to: 30000"
two_snapshots "file:///snaps/s" "file:///other/s"
# Sparse: untouched memory not written.
kib=$(du -k "$TMP/jail2/snaps/s/memory" 2>/dev/null | cut -f1)
if [ "$c1$c2$c4" = 204204204 ] && [ "$c3" = 500 ] && [ -f "$TMP/jail2/snaps/s/state" ] &&
   [ "${kib:-65536}" -lt 16384 ] &&
   [ ! -e "$TMP/jail2/other/s" ] && [ "$rc" = 1 ] && grep -q "$DONE" "$TMP/out3"; then
    ok "${NAMES[2]}"
else
    echo "#   pause $c1, snapshots $c2 and $c3, resume $c4, status $rc, memory file ${kib:-?} KiB"
    not_ok "${NAMES[2]}" "$TMP/err3"
fi

S=$TMP/api2.sock
[ ! -e "$TMP/api.sock" ] || echo "# the first run left its socket"
"$KVMBOX" run --jail "$TMP/jail" --api-socket "$S" --kernel "$G/boot-pvh.elf" --memory 64M \
    --cmdline "spin" > "$TMP/out2" 2> "$TMP/err2" < /dev/null &
pid=$!
for _ in $(seq 250); do [ -S "$S" ] && break; sleep 0.02; done
api GET vmm.ping
inside=$(pgrep -P "$pid" | head -n1)
kill -TERM "$pid"
wait "$pid"
rc=$?
sleep 0.2
if [ "$code" = 200 ] && [ -n "$inside" ] && [ "$rc" = 143 ] && gone "$inside" && [ ! -e "$S" ]; then
    ok "${NAMES[3]}"
else
    echo "#   ping $code, status $rc, jailed ${inside:-none}"
    kill -KILL "$inside" 2>/dev/null
    not_ok "${NAMES[3]}" "$TMP/err2"
fi

# Killed outright, the parent takes the jailed VMM with it.
"$KVMBOX" run --jail "$TMP/jail" --user 65534 --api-socket "$S" --kernel "$G/boot-pvh.elf" \
    --memory 64M --cmdline "spin" > "$TMP/out2" 2> "$TMP/err2" < /dev/null &
pid=$!
for _ in $(seq 250); do [ -S "$S" ] && break; sleep 0.02; done
api GET vmm.ping; c1=$code
inside=$(pgrep -P "$pid" | head -n1)
kill -KILL "$pid"
wait "$pid" 2>/dev/null
for _ in $(seq 250); do gone "$inside" && break; sleep 0.02; done
if [ "$c1" = 200 ] && [ -n "$inside" ] && gone "$inside"; then
    ok "${NAMES[4]}"
else
    echo "#   ping $c1, jailed ${inside:-none} still there"
    kill -KILL "$inside" 2>/dev/null
    not_ok "${NAMES[4]}" "$TMP/err2"
fi

"$KVMBOX" run --jail "$TMP/disk.img" --kernel "$G/boot-pvh.elf" 2> "$TMP/err4"
rc=$?
[ "$rc" = 1 ] && grep -q "not a directory" "$TMP/err4" && ok "${NAMES[5]}" ||
    { echo "#   status $rc"; not_ok "${NAMES[5]}" "$TMP/err4"; }
exit 0
