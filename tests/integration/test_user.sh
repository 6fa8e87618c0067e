#!/usr/bin/env bash
# Privileges (docs/security.md): after start-up kvmbox holds no
# capability, and with --user it runs as that user, every thread of it.
# The guest, the API (the socket now that user's), a reboot (disk and
# /dev/kvm held from start-up: both root's alone here), a VM the API
# creates later, a snapshot into the user's directory and its restore all
# work as that user.
. "$(dirname "$0")/lib.sh"

NAMES=("user: --user 65534: every thread runs as 65534 with no capability (CapEff, CapPrm 0) under its seccomp filter, and the guest's checks pass"
       "user: the API socket is the user's (mode 0600): that user and root are served"
       "user: a reboot reopens nothing: the root-only disk and /dev/kvm held from start-up serve the new VM"
       "user: a snapshot into the user's directory, restored by a kvmbox as that user: counts on to the end"
       "user: an empty VMM as that user: the API creates and boots a VM on the user's disk"
       "user: a live migration between two kvmboxes as that user, over a socket in its directory: the guest counts on to the end on the destination"
       "user: a bad --user is refused at once (status 1, naming it)")
api_tests_need_curl
if ! command -v setpriv > /dev/null || [ "$(id -u)" != 0 ]; then
    for n in "${NAMES[@]}"; do skip "$n" "needs root and setpriv"; done
    exit 0
fi
U=65534
MIB=1048576
DONE="count_to: reached 300000, page checksum da2f6200"
chmod 755 "$TMP"
mkdir -m 700 "$TMP/home" && chown "$U:$U" "$TMP/home"
head -c $((8 * MIB)) /dev/urandom > "$TMP/root.img"
chmod 600 "$TMP/root.img"                       # root's alone
HEAD=$(head -c 65536 "$TMP/root.img" | cksum | cut -d' ' -f1)
as_user() { setpriv --reuid=$U --regid=$U --clear-groups "$@"; }
# threads PID: "NAME UID CAPEFF CAPPRM SECCOMP" for each thread
threads() {
    for t in /proc/"$1"/task/*; do
        echo "$(cat "$t/comm" 2>/dev/null) $(awk '/^Uid:/{u=$2} /^CapEff:/{e=$2} /^CapPrm:/{p=$2} /^Seccomp:/{s=$2} END{print u, e, p, s}' "$t/status" 2>/dev/null)"
    done
}

S=$TMP/api.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --user "$U:$U" --api-socket "$S" \
    --kernel "$G/boot-pvh.elf" --memory 128M --cpus 2 --disk path="$TMP/root.img",serial=d0 \
    --net user --rng --cmdline "kvmbox-test virtio smp expect_cpus=2 expect_virtio=3 blk_serial=d0 blk_bytes=$((8 * MIB)) blk_head=$HEAD count_to=300000" \
    > "$TMP/out" 2> "$TMP/err" < /dev/null &
wrapper=$!
wait_for "$TMP/out" "^count_to: 30000"
pid=$(pgrep -P "$wrapper" | head -n1)
list=$(threads "$pid")
echo "$list" | sed 's/^/# /'
bad=$(echo "$list" | awk -v u=$U '$1 != "kvm-nx-lpage-re" && NF == 5 && ($2 != u || $3 != "0000000000000000" || $4 != "0000000000000000" || $5 != 2)')
wait_for "$TMP/out" "checks passed"
if [ -z "$bad" ] && echo "$list" | grep -q "^vcpu1 " && echo "$list" | grep -q "^spawner " &&
   grep -Eq "guest: all [0-9]+ checks passed" "$TMP/out"; then
    ok "${NAMES[0]}"
else
    echo "#   threads: ${bad:-(all dropped)}"
    not_ok "${NAMES[0]}" "$TMP/err"
fi

owner=$(stat -c '%u %a' "$S")
theirs=$(as_user curl -s --max-time 10 --unix-socket "$S" -w ' %{http_code}' http://localhost/api/v1/vmm.ping)
api GET vmm.ping
if [ "$owner" = "$U 600" ] && [[ $theirs == *" 200" ]] && [ "$code" = 200 ]; then
    ok "${NAMES[1]}"
else
    echo "#   socket $owner; user: $theirs; root: $code"
    not_ok "${NAMES[1]}" "$TMP/err"
fi

# The guest resets when it is done (a reboot while the API serves): the
# next boot runs the same checks on the same disk.
wait_for "$TMP/out" "$DONE"
for _ in $(seq 1500); do [ "$(grep -c "checks passed" "$TMP/out")" -ge 2 ] && break; sleep 0.02; done
n=$(grep -Ec "guest: all [0-9]+ checks passed" "$TMP/out")
api PUT vmm.shutdown
wait "$wrapper"
rc=$?
if [ "$n" -ge 2 ] && [ "$rc" = 0 ] && ! grep -q "error" "$TMP/err"; then
    ok "${NAMES[2]}"
else
    echo "#   boots that passed: $n; status $rc"
    not_ok "${NAMES[2]}" "$TMP/err"
fi

# Snapshot mid-count into the user's directory; restored as the user.
S=$TMP/snap.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --user "$U" --api-socket "$S" --kernel "$G/boot-pvh.elf" \
    --debug-exit --cmdline "count_to=300000" > "$TMP/s.out" 2> "$TMP/s.err" < /dev/null &
wrapper=$!
wait_for "$TMP/s.out" "^count_to: 30000"
api PUT vm.pause; c1=$code
api PUT vm.snapshot "{\"destination_url\":\"file://$TMP/home/snap\"}"; c2=$code
api PUT vmm.shutdown
wait "$wrapper"
snap_owner=$(stat -c %u "$TMP/home/snap" 2>/dev/null)
timeout -k 5 "$LIMIT" "$KVMBOX" run --user "$U" --restore "source_url=file://$TMP/home/snap,resume=on" \
    > "$TMP/r.out" 2> "$TMP/r.err" < /dev/null
rc=$?
if [ "$c1" = 204 ] && [ "$c2" = 204 ] && [ "$snap_owner" = "$U" ] && [ "$rc" = 1 ] &&
   grep -q "$DONE" "$TMP/r.out"; then
    ok "${NAMES[3]}"
else
    echo "#   pause $c1, snapshot $c2, owner ${snap_owner:-none}, restore status $rc"
    cat "$TMP/s.err" >> "$TMP/r.err"
    not_ok "${NAMES[3]}" "$TMP/r.err"
fi

# Nothing but the API socket at start-up: the VM comes later, its kernel
# and disk the user's (the checkout may be in a directory it cannot enter).
head -c $((8 * MIB)) /dev/urandom > "$TMP/home/user.img"
cp "$G/boot-pvh.elf" "$TMP/home/kernel.elf"
chown "$U:$U" "$TMP/home/user.img" "$TMP/home/kernel.elf"
HEAD=$(head -c 65536 "$TMP/home/user.img" | cksum | cut -d' ' -f1)
S=$TMP/empty.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --user "$U" --api-socket "$S" > "$TMP/e.out" 2> "$TMP/e.err" < /dev/null &
wrapper=$!
for _ in $(seq 250); do [ -S "$S" ] && break; sleep 0.02; done
api PUT vm.create "{\"payload\":{\"kernel\":\"$TMP/home/kernel.elf\",\"cmdline\":\"kvmbox-test virtio blk_serial=d1 blk_bytes=$((8 * MIB)) blk_head=$HEAD\"},\"memory\":{\"size\":67108864},\"disks\":[{\"path\":\"$TMP/home/user.img\",\"serial\":\"d1\"}],\"kvmbox\":{\"debug_exit\":true}}"
c1=$code
api PUT vm.boot; c2=$code
wait_for "$TMP/e.out" "checks passed|check failed"
api PUT vmm.shutdown
wait "$wrapper"
if [ "$c1" = 204 ] && [ "$c2" = 204 ] && grep -Eq "guest: all [0-9]+ checks passed" "$TMP/e.out"; then
    ok "${NAMES[4]}"
else
    echo "#   create $c1, boot $c2: $body"
    not_ok "${NAMES[4]}" "$TMP/e.err"
fi

# A migration, both sides as the user, the receiver's socket in its
# directory.
timeout -k 5 "$LIMIT" "$KVMBOX" run --user "$U" --api-socket "$TMP/dst.sock" \
    > "$TMP/dst.out" 2> "$TMP/dst.err" < /dev/null &
dst=$!
S=$TMP/src.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --user "$U" --api-socket "$S" --kernel "$G/boot-pvh.elf" \
    --debug-exit --cmdline "count_to=300000" > "$TMP/src.out" 2> "$TMP/src.err" < /dev/null &
src=$!
for _ in $(seq 250); do [ -S "$TMP/dst.sock" ] && break; sleep 0.02; done
curl -s --max-time 60 --unix-socket "$TMP/dst.sock" -X PUT -w '%{http_code}' \
    -d "{\"receiver_url\":\"unix:$TMP/home/mig.sock\"}" \
    http://localhost/api/v1/vm.receive-migration > "$TMP/recv" 2>/dev/null &
recv=$!
wait_for "$TMP/src.out" "^count_to: 30000"
for _ in $(seq 250); do [ -S "$TMP/home/mig.sock" ] && break; sleep 0.02; done
api PUT vm.send-migration "{\"destination_url\":\"unix:$TMP/home/mig.sock\"}"
c1=$code
wait "$recv"
wait "$src"
wait "$dst"
rc=$?
if [ "$c1" = 204 ] && [ "$(cat "$TMP/recv")" = 204 ] && [ "$rc" = 1 ] &&
   grep -q "$DONE" "$TMP/dst.out"; then
    ok "${NAMES[5]}"
else
    echo "#   send $c1 ($body), receive $(cat "$TMP/recv"), destination status $rc"
    cat "$TMP/src.err" >> "$TMP/dst.err"
    not_ok "${NAMES[5]}" "$TMP/dst.err"
fi

"$KVMBOX" run --user no-such-user-here --kernel "$G/boot-pvh.elf" > /dev/null 2> "$TMP/err"
rc=$?
[ "$rc" = 1 ] && grep -q "no-such-user-here.*no such user" "$TMP/err" && ok "${NAMES[6]}" ||
    { echo "#   status $rc"; not_ok "${NAMES[6]}" "$TMP/err"; }
exit 0
