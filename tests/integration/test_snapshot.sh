#!/usr/bin/env bash
# Snapshot and restore on the host tier (issue 12): a guest paused in the
# middle of its work is written to a directory, its process killed, and
# brought back in a new process that finishes the work with the right
# result: a counting guest (and two clones of it at once), the SMP guest's
# locked increments, virtio-blk requests in flight. Refused snapshots leave
# the source VM running; bad snapshots are refused at restore with an error
# that names the problem, both on the command line and through the API.
. "$(dirname "$0")/lib.sh"

NAMES=("snapshot: a guest paused mid-count, snapshotted (ctl) and killed, restored in a new process: counts on from where it was, same checksum"
       "snapshot: the event monitor has snapshotting, snapshotted; a restoring kvmbox's has restoring, restored, resumed"
       "snapshot: two clones of one snapshot at once (copy and ondemand) both finish with the right result"
       "snapshot: the memory file is sparse: allocated far below the guest's RAM"
       "snapshot: of a running VM is refused (500, paused); the VM counts on"
       "snapshot: into an existing non-empty directory is refused (500), the directory untouched; the VM resumes"
       "snapshot: onto a full filesystem is refused (500, space), leaving no directory and no temporary; the VM resumes"
       "snapshot: restore of a truncated state file is refused (CLI status 1, API 500), naming it"
       "snapshot: restore of a state file with one byte flipped is refused: checksum"
       "snapshot: restore of a state file of a newer format version is refused, naming the version"
       "snapshot: restore without the memory file is refused, naming it"
       "snapshot: restore of a truncated memory file is refused, naming it"
       "snapshot: restore with a disk of another size is refused, naming the disk and both sizes"
       "snapshot: restore with an override for an unknown device id is refused, naming the id"
       "snapshot: vm.restore with a bad body gets 400; the VMM stays empty"
       "snapshot: after those refusals, vm.restore (resume false) restores Paused; vm.resume: it finishes"
       "snapshot: vm.restore into a kvmbox that already has a VM gets 500"
       "snapshot: 8 vCPUs snapshotted during SMP bring-up and restored: every AP arrives, the shared counter adds up"
       "snapshot: virtio-blk paused with requests in flight, restored: the guest's checks pass, the file holds its writes"
       "snapshot: after a snapshot that works, vm.resume: the source VM finishes with the right result"
       "snapshot: a VM restored on demand, snapshotted again: the second snapshot restores and finishes, its memory file sparse"
       "snapshot: a clone of a VM with a disk: refused while the disk is in use (locked); with disk=_disk0:COPY it passes too")
api_tests_need_curl

MIB=1048576
PASS="guest: all [0-9]+ checks passed"
DONE="count_to: reached 300000, page checksum da2f6200"
# A counting guest: ~3 s to 300000 on a PVM host, far less on hardware.
COUNT=(--kernel "$G/boot-pvh.elf" --debug-exit --cmdline "count_to=300000")

# A kvmbox in the background with an API socket at $S. start NAME ARGS...:
# stdout to $TMP/NAME.out, stderr to $TMP/NAME.err, the pid of its
# timeout wrapper in $vm_pid.
start() {
    local name=$1
    shift
    S=$TMP/$name.sock
    timeout -k 5 "$LIMIT" "$KVMBOX" run --api-socket "$S" "$@" \
        < /dev/null > "$TMP/$name.out" 2> "$TMP/$name.err" &
    vm_pid=$!
    for _ in $(seq 200); do [ -S "$S" ] && break; sleep 0.05; done
}
# kill_vm: SIGKILL the kvmbox under $vm_pid, as a crash would end it.
kill_vm() { pkill -KILL -P "$vm_pid" 2>/dev/null; wait "$vm_pid" 2>/dev/null; }
# finish: wait for the kvmbox under $vm_pid; its status in $rc.
finish() { wait "$vm_pid"; rc=$?; }
ctl() { timeout -k 5 30 "$KVMBOX" ctl --api-socket "$S" "$@" 2>> "$TMP/ctl.err"; }
state() { api GET vm.info; sed -E 's/.*"state":"([A-Za-z]+)".*/\1/' <<< "$body"; }
events_of() { sed -E 's/.*"event":"([a-z]+)".*/\1/' "$1" | tr '\n' ' '; }
# first_count FILE: the first progress line's number.
first_count() { sed -nE 's/^count_to: ([0-9]+)[[:space:]]*$/\1/p' "$1" | head -n1; }
# restore_cli NAME ARGS-OF-RESTORE [KVMBOX-ARGS...]: a restoring kvmbox in
# the foreground; stdout/stderr to $TMP/NAME.out/.err, status in $rc.
restore_cli() {
    local name=$1 what=$2
    shift 2
    timeout -k 5 "$LIMIT" "$KVMBOX" run --restore "$what" "$@" \
        < /dev/null > "$TMP/$name.out" 2> "$TMP/$name.err"
    rc=$?
}
# counted_ok FILE FROM: the run counted on from past FROM to the end.
counted_ok() {
    local first
    first=$(first_count "$1")
    [ -n "$first" ] && [ "$first" -gt "$2" ] && grep -q "$DONE" "$1" && grep -Eq "$PASS" "$1" &&
        ! grep -q "counting to" "$1"
}

# ---- 1: mid-count, snapshot, kill, restore in a new process ----
SNAP=$TMP/snap1
start src "${COUNT[@]}" --memory 256M --event-monitor path="$TMP/src.events"
wait_for "$TMP/src.out" "^count_to: 60000[[:space:]]*$"
ctl pause; r1=$?
ctl snapshot "file://$SNAP"; r2=$?
kill_vm
restore_cli r1 "source_url=file://$SNAP,resume=on" --event-monitor path="$TMP/r1.events"
if [ "$r1$r2" = 00 ] && [ "$rc" = 1 ] && counted_ok "$TMP/r1.out" 60000; then
    ok "${NAMES[0]}"
else
    echo "#   pause $r1, snapshot $r2, restored status $rc (want 1), first count $(first_count "$TMP/r1.out")"
    not_ok "${NAMES[0]}" "$TMP/r1.out" "$TMP/r1.err" "$TMP/ctl.err"
fi

ev_src=$(events_of "$TMP/src.events")
ev_r1=$(events_of "$TMP/r1.events")
check "${NAMES[1]}" eval '[[ $ev_src == *"paused snapshotting snapshotted "* ]] &&
    [[ $ev_r1 == *"restoring restored "*"resumed "* ]] ||
    { echo "#   source: $ev_src"; echo "#   restored: $ev_r1"; false; }'

# ---- 2: two clones at once ----
timeout -k 5 "$LIMIT" "$KVMBOX" run --restore "source_url=file://$SNAP,resume=on,memory_restore_mode=copy" \
    < /dev/null > "$TMP/c1.out" 2> "$TMP/c1.err" &
p1=$!
timeout -k 5 "$LIMIT" "$KVMBOX" run --restore "source_url=file://$SNAP,resume=on,memory_restore_mode=ondemand" \
    < /dev/null > "$TMP/c2.out" 2> "$TMP/c2.err" &
p2=$!
wait $p1; s1=$?
wait $p2; s2=$?
if [ "$s1" = 1 ] && [ "$s2" = 1 ] && counted_ok "$TMP/c1.out" 60000 && counted_ok "$TMP/c2.out" 60000; then
    ok "${NAMES[2]}"
else
    echo "#   statuses $s1 (copy), $s2 (ondemand); want 1 and 1"
    not_ok "${NAMES[2]}" "$TMP/c1.out" "$TMP/c1.err" "$TMP/c2.out" "$TMP/c2.err"
fi

# ---- 3: sparse memory file ----
alloc=$(( $(stat -c %b "$SNAP/memory") * 512 ))
size=$(stat -c %s "$SNAP/memory")
check "${NAMES[3]}" eval '[ "$size" = $((256 * MIB)) ] && [ "$alloc" -lt $((64 * MIB)) ] ||
    { echo "#   memory file: size $size, allocated $alloc"; false; }'

# ---- 4: refused snapshots leave the source running ----
start ref "${COUNT[@]}" --memory 128M
wait_for "$TMP/ref.out" "^count_to: 30000[[:space:]]*$"
api PUT vm.snapshot "{\"destination_url\":\"file://$TMP/running\"}"; c1=$code; b1=$body
wait_for "$TMP/ref.out" "^count_to: 60000[[:space:]]*$"; moved=$?
check "${NAMES[4]}" eval '[ "$c1" = 500 ] && [[ $b1 == *paused* ]] && [ ! -e "$TMP/running" ] && [ "$moved" = 0 ]'

mkdir "$TMP/full_dir" && echo keep > "$TMP/full_dir/other"
ctl pause
api PUT vm.snapshot "{\"destination_url\":\"file://$TMP/full_dir\"}"; c1=$code; b1=$body
left=$(ls -A "$TMP/full_dir" | tr '\n' ' ')
others=$(ls -A "$TMP" | grep -c '^full_dir.')
ctl resume; r1=$?
wait_for "$TMP/ref.out" "^count_to: 90000[[:space:]]*$"; moved=$?
check "${NAMES[5]}" eval '[ "$c1" = 500 ] && [ "$left" = "other " ] && [ "$others" = 0 ] && [ "$r1" = 0 ] && [ "$moved" = 0 ] ||
    { echo "#   left in the directory: $left; temporaries beside it: $others"; false; }'

# A 1 MiB tmpfs with all but 32 KiB taken: config.json and state fit,
# the memory does not.
FULL=$TMP/tmpfs
mkdir "$FULL"
trap 'umount "$FULL" 2>/dev/null; rm -rf "$TMP"' EXIT
if mount -t tmpfs -o size=1m kvmbox-test "$FULL" 2>/dev/null; then
    dd if=/dev/zero of="$FULL/fill" bs=4k 2>/dev/null
    truncate -s -32K "$FULL/fill"
    ctl pause
    api PUT vm.snapshot "{\"destination_url\":\"file://$FULL/snap\"}"; c1=$code; b1=$body
    left=$(ls -A "$FULL" | tr '\n' ' ')
    umount "$FULL"
    ctl resume; r1=$?
    wait_for "$TMP/ref.out" "^count_to: 120000[[:space:]]*$"; moved=$?
    check "${NAMES[6]}" eval '[ "$c1" = 500 ] && [[ $b1 == *space* ]] && [ "$left" = "fill " ] && [ "$r1" = 0 ] &&
        [ "$moved" = 0 ] || { echo "#   left on the tmpfs: $left"; false; }'
else
    skip "${NAMES[6]}" "cannot mount a tmpfs"
fi

# After the refusals, a snapshot that works; the source resumes and
# finishes as if none had been taken.
ctl pause
api PUT vm.snapshot "{\"destination_url\":\"file://$TMP/snapr\"}"; c1=$code
ctl resume; r1=$?
finish
check "${NAMES[19]}" eval '[ "$c1" = 204 ] && [ "$r1" = 0 ] && [ "$rc" = 1 ] && grep -q "$DONE" "$TMP/ref.out" &&
    grep -Eq "$PASS" "$TMP/ref.out" || { echo "#   status $rc"; false; }'

# That snapshot restored on demand through the API, run a while, and
# snapshotted again: the second generation restores and finishes, and its
# memory file is as sparse (pages never touched stay holes).
start gen1
api PUT vm.restore "{\"source_url\":\"file://$TMP/snapr\",\"memory_restore_mode\":\"ondemand\",\"resume\":true}"; c1=$code
wait_for "$TMP/gen1.out" "^count_to: 210000[[:space:]]*$"
ctl pause
ctl snapshot "file://$TMP/snap2"; r1=$?
kill_vm
restore_cli gen2 "source_url=file://$TMP/snap2,resume=on"
alloc=$(( $(stat -c %b "$TMP/snap2/memory" 2>/dev/null || echo 0) * 512 ))
check "${NAMES[20]}" eval '[ "$c1" = 204 ] && [ "$r1" = 0 ] && [ "$rc" = 1 ] && counted_ok "$TMP/gen2.out" 210000 &&
    [ "$alloc" -lt $((32 * MIB)) ] || { echo "#   status $rc, allocated $alloc"; false; }'

# ---- 5: bad snapshots, each refused by the CLI and by an empty kvmbox's API ----
# A snapshot with a 1 MiB disk, restored with a 2 MiB one.
truncate -s 1M "$TMP/disk1.img"
truncate -s 2M "$TMP/disk2.img"
start dsrc "${COUNT[@]}" --memory 64M --disk path="$TMP/disk1.img"
wait_for "$TMP/dsrc.out" "^count_to: 30000[[:space:]]*$"
ctl pause
ctl snapshot "file://$TMP/snapd"
kill_vm

# bad NAME: a copy of the good snapshot in $TMP/NAME, to be damaged.
bad() { cp -r --sparse=always "$SNAP" "$TMP/$1"; }
bad trunc_state;   truncate -s 100 "$TMP/trunc_state/state"
bad flipped;       python3 - "$TMP/flipped/state" <<'EOF'
import sys
p = sys.argv[1]; d = bytearray(open(p, 'rb').read()); d[len(d) // 2] ^= 0x10
open(p, 'wb').write(d)
EOF
bad version;       printf '\xe7\x03\x00\x00' | dd of="$TMP/version/state" bs=1 seek=8 conv=notrunc 2>/dev/null
bad no_memory;     rm "$TMP/no_memory/memory"
bad trunc_memory;  truncate -s 64M "$TMP/trunc_memory/memory"

start empty --event-monitor path="$TMP/empty.events"
# refused NAME-INDEX DIR EXTRA-CLI EXTRA-JSON ERE: the CLI exits 1 and
# the API answers 500, each with an error matching ERE.
refused() {
    local name=$1 dir=$2 cli=$3 json=$4 re=$5
    restore_cli bad "source_url=file://$dir,resume=on$cli"
    api PUT vm.restore "{\"source_url\":\"file://$dir\",\"resume\":true$json}"
    local state_after
    state_after=$(api GET vm.info; echo "$code")
    # One line, as every error of kvmbox run (README: exit status).
    if [ "$rc" = 1 ] && grep -Eq -- "$re" "$TMP/bad.err" && [ "$(wc -l < "$TMP/bad.err")" = 1 ] &&
        [ "$code" = 500 ] && grep -Eq -- "$re" <<< "$body" && [ "$state_after" = 404 ]; then
        ok "$name"
    else
        echo "#   CLI status $rc, stderr: $(head -c 600 "$TMP/bad.err" | sed '2,$s/^/#     /')"
        echo "#   API $code: ${body:0:300}; vm.info afterwards: $state_after"
        not_ok "$name"
    fi
}
refused "${NAMES[7]}" "$TMP/trunc_state" "" "" "trunc_state/state: .*truncated"
refused "${NAMES[8]}" "$TMP/flipped" "" "" "flipped/state: .*checksum"
refused "${NAMES[9]}" "$TMP/version" "" "" "version/state: .*version 999"
refused "${NAMES[10]}" "$TMP/no_memory" "" "" "no_memory/memory: .*missing"
refused "${NAMES[11]}" "$TMP/trunc_memory" "" "" "trunc_memory/memory: .*truncated"
refused "${NAMES[12]}" "$TMP/snapd" ",disk=_disk0:$TMP/disk2.img" \
    ",\"kvmbox\":{\"disks\":{\"_disk0\":\"$TMP/disk2.img\"}}" \
    "_disk0.*(1048576|1 ?M).*(2097152|2 ?M)|_disk0.*(2097152|2 ?M).*(1048576|1 ?M)"
refused "${NAMES[13]}" "$SNAP" ",disk=nosuchdisk:$TMP/disk1.img" \
    ",\"kvmbox\":{\"disks\":{\"nosuchdisk\":\"$TMP/disk1.img\"}}" "nosuchdisk"

# ---- 6: vm.restore's body and state ----
api PUT vm.restore '{"source_url":5}'; c1=$code; b1=$body
api PUT vm.restore '{"resume":true}'; c2=$code; b2=$body
api PUT vm.restore "{\"source_url\":\"file://$SNAP\",\"memory_restore_mode\":\"lazy\"}"; c3=$code
api PUT vm.restore '{"source_url":'; c4=$code
api GET vm.info; c5=$code
check "${NAMES[14]}" eval '[ "$c1$c2$c3$c4" = 400400400400 ] && [[ $b1 == *source_url* ]] && [[ $b2 == *source_url* ]] && [ "$c5" = 404 ] ||
    { echo "#   $c1 $b1 / $c2 $b2 / $c3 / $c4 / vm.info $c5"; false; }'

api PUT vm.restore "{\"source_url\":\"file://$SNAP\",\"resume\":false}"; c1=$code
s1=$(state)
sleep 0.2
paused_out=$(grep -c "^count_to: " "$TMP/empty.out")
api PUT vm.restore "{\"source_url\":\"file://$SNAP\",\"resume\":true}"; c2=$code; b2=$body
api PUT vm.resume; c3=$code
finish
ev=$(events_of "$TMP/empty.events")
check "${NAMES[15]}" eval '[ "$c1" = 204 ] && [ "$s1" = Paused ] && [ "$paused_out" = 0 ] && [ "$c3" = 204 ] &&
    [ "$rc" = 1 ] && counted_ok "$TMP/empty.out" 60000 && [[ $ev == *"restoring restored resuming resumed "* ]] ||
    { echo "#   restore $c1, state $s1, lines while paused $paused_out, resume $c3, status $rc; events: $ev"; false; }'
code=$c2; body=$b2
check "${NAMES[16]}" eval '[ "$c2" = 500 ] && [[ $b2 == *"already"* ]]'

# ---- 7: SMP: 8 vCPUs paused during their bring-up ----
# The guest's shared counter and AP count lie at fixed addresses (from its
# symbols), which the memory file holds at the same offsets: they say
# where a snapshot caught it. The whole guest takes a fraction of a
# second, so vm.create first, then vm.boot and vm.pause a moment apart;
# the moment moves later while a snapshot comes too early (nothing
# counted) and earlier once one comes too late, for a few tries. Each
# snapshot, wherever it caught the guest, must restore to a passing run.
sym() { echo $((16#$(nm "$G/boot-pvh.elf" | awk -v s="$1" '$3 == s { print $1 }'))); }
A_COUNTER=$(sym counter)
A_ARRIVED=$(sym arrived)
SMP_CFG="{\"payload\":{\"kernel\":\"$G/boot-pvh.elf\",\"cmdline\":\"kvmbox-test smp expect_cpus=8\"},
 \"cpus\":{\"boot_vcpus\":8,\"max_vcpus\":8},\"memory\":{\"size\":$((64 * MIB))},\"kvmbox\":{\"debug_exit\":true}}"
smp_fail=
mid=
tries=0
ms=50
for _ in 1 2 3 4 5 6; do
    start smp
    api PUT vm.create "$SMP_CFG"
    api PUT vm.boot; sleep "$(printf '0.%03d' "$ms")"; api PUT vm.pause
    if [ "$code" != 204 ]; then                       # the guest was done already
        kill_vm
        ms=$((ms - 10))
        continue
    fi
    rm -rf "$TMP/snaps"
    ctl snapshot "file://$TMP/snaps"
    sleep 0.1                                         # the console's last lines out
    kill_vm
    read -r a c < <(python3 -c 'import sys, struct
f = open(sys.argv[1], "rb")
f.seek(int(sys.argv[2])); c, = struct.unpack("<I", f.read(4))
f.seek(int(sys.argv[3])); a, = struct.unpack("<I", f.read(4))
print(a, c)' "$TMP/snaps/memory" "$A_COUNTER" "$A_ARRIVED" 2>/dev/null)
    restore_cli smpr "source_url=file://$TMP/snaps,resume=on"
    tries=$((tries + 1))
    echo "# smp: paused ${ms} ms after vm.boot: ${a:-?} of 7 APs arrived, counter ${c:-?} of 8000; restored: status $rc"
    # Lines the source printed before the snapshot, then the restored run's.
    cat "$TMP/smp.out" "$TMP/smpr.out" > "$TMP/smp_all.out"
    if [ "$rc" != 33 ] || ! grep -q "smp: 7 of 7 APs arrived, counter 8000 " "$TMP/smp_all.out" ||
        ! grep -q "ok - smp: the shared counter adds up" "$TMP/smp_all.out" || ! grep -Eq "$PASS" "$TMP/smpr.out"; then
        smp_fail="$smp_fail ${ms}ms"
        cp "$TMP/smp_all.out" "$TMP/smp_failed.out"
        cp "$TMP/smpr.err" "$TMP/smp_failed.err"
    fi
    if [ "${c:-0}" -gt 0 ] && [ "${c:-0}" -lt 8000 ]; then
        mid="$mid ${ms}ms"
        break
    fi
    if [ "${c:-0}" = 0 ]; then ms=$((ms + 10)); else ms=$((ms - 5)); fi
    [ "$ms" -gt 9 ] && [ "$ms" -lt 100 ] || break
done
echo "# smp: a snapshot caught the locked increments mid-way:${mid:- no, not in $tries tries}"
if [ -z "$smp_fail" ] && [ "$tries" -gt 0 ]; then
    ok "${NAMES[17]}"
else
    echo "#   restores that failed:${smp_fail:- none (no snapshot taken)}"
    not_ok "${NAMES[17]}" "$TMP/smp_failed.out" "$TMP/smp_failed.err"
fi

# ---- 8: virtio-blk with requests in flight ----
# Disk layout as in test_virtio.sh: 64 KiB the guest reads and cksums,
# its pattern at 1 MiB (4 MiB of 64-bit words "kvmb" << 32 | offset),
# write-zeroes at 6 MiB and discard at 7 MiB.
head -c $((8 * MIB)) /dev/urandom > "$TMP/rw.img"
HEAD=$(head -c 65536 "$TMP/rw.img" | cksum | cut -d' ' -f1)
start vsrc --kernel "$G/boot-pvh.elf" --memory 128M --debug-exit --disk path="$TMP/rw.img",serial=kvmbox-disk0 \
    --cmdline "kvmbox-test virtio expect_virtio=1 blk_serial=kvmbox-disk0 blk_bytes=$((8 * MIB)) blk_head=$HEAD"
# The pattern's writes follow this line; on a PVM host they take seconds.
wait_for "$TMP/vsrc.out" "unmasking delivers it"
sleep 0.5
ctl pause; r1=$?
ctl snapshot "file://$TMP/snapv"; r2=$?
sleep 0.2
before=$(grep -c "a few MiB written" "$TMP/vsrc.out")
kill_vm
# The disk as it was at the snapshot, for a clone of its own.
cp --sparse=always "$TMP/rw.img" "$TMP/rw-clone.img"
timeout -k 5 "$LIMIT" "$KVMBOX" run --restore "source_url=file://$TMP/snapv,resume=on" \
    < /dev/null > "$TMP/vr.out" 2> "$TMP/vr.err" &
vr_pid=$!
wait_for "$TMP/vr.out" "virtio"
# A clone without an override finds the disk taken; with disk=ID:PATH it runs.
restore_cli vlocked "source_url=file://$TMP/snapv,resume=on"; r3=$rc
restore_cli vclone "source_url=file://$TMP/snapv,resume=on,disk=_disk0:$TMP/rw-clone.img"; r4=$rc
wait "$vr_pid"; rc=$?
if [ "$before" = 0 ] && grep -q "a few MiB written" "$TMP/vr.out"; then
    echo "# virtio: the snapshot caught the guest writing its pattern (8 requests in flight)"
else
    echo "# virtio: the snapshot did not catch the guest in its writes (it was past them)"
fi
disk_pattern_ok "$TMP/rw.img"; file_ok=$?
if [ "$r1$r2" = 00 ] && [ "$rc" = 33 ] && grep -Eq "$PASS" "$TMP/vr.out" && ! grep -q "FAILED" "$TMP/vr.out" &&
    [ "$file_ok" = 0 ]; then
    ok "${NAMES[18]}"
else
    echo "#   pause $r1, snapshot $r2, restored status $rc (want 33), file as the guest wrote it: $file_ok (0 is yes)"
    not_ok "${NAMES[18]}" "$TMP/vr.out" "$TMP/vr.err" "$TMP/ctl.err"
fi
disk_pattern_ok "$TMP/rw-clone.img"; file_ok=$?
if [ "$r3" = 1 ] && grep -q "locked" "$TMP/vlocked.err" && [ "$r4" = 33 ] && grep -Eq "$PASS" "$TMP/vclone.out" &&
    [ "$file_ok" = 0 ]; then
    ok "${NAMES[21]}"
else
    echo "#   without an override: status $r3; with one: status $r4 (want 33), its file as the guest wrote it: $file_ok (0 is yes)"
    not_ok "${NAMES[21]}" "$TMP/vlocked.err" "$TMP/vclone.out" "$TMP/vclone.err"
fi
