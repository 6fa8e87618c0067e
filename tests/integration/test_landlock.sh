#!/usr/bin/env bash
# Landlock (docs/security.md): with --landlock kvmbox may open only the
# files its options name and what --landlock-rules adds. The guest runs
# as usual; a snapshot into a directory not named is refused and the VM
# runs on, into the named one it works; a VM the API creates later on a
# disk not named (its kernel's directory named) cannot open the disk; bad rules are refused at once.
. "$(dirname "$0")/lib.sh"

NAMES=("landlock: the guest runs with its disk and NIC; a snapshot into a directory --landlock-rules names works"
       "landlock: a snapshot into a directory not named is refused (500, permission denied); the VM resumes and finishes"
       "landlock: a VM the API creates (its kernel's directory named) on a disk not named cannot open the disk (500, naming it)"
       "landlock: a malformed --landlock-rules, or one without --landlock, is refused at once (status 1)")
api_tests_need_curl
DONE="count_to: reached 300000, page checksum da2f6200"
mkdir "$TMP/snaps" "$TMP/other"
head -c 1048576 /dev/zero > "$TMP/named.img"
head -c 1048576 /dev/zero > "$TMP/other/unnamed.img"

S=$TMP/api.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --landlock --landlock-rules "path=$TMP/snaps,access=rw" \
    --api-socket "$S" --kernel "$G/boot-pvh.elf" --disk path="$TMP/named.img" --net user \
    --debug-exit --cmdline "count_to=300000" > "$TMP/out" 2> "$TMP/err" < /dev/null &
pid=$!
wait_for "$TMP/out" "^count_to: 30000"
if grep -q "does not offer it" "$TMP/err"; then
    kill "$pid"; wait "$pid"
    for n in "${NAMES[@]}"; do skip "$n" "this kernel has no Landlock"; done
    exit 0
fi
api PUT vm.pause; c1=$code
api PUT vm.snapshot "{\"destination_url\":\"file://$TMP/other/snap\"}"; c2=$code; b2=$body
api PUT vm.snapshot "{\"destination_url\":\"file://$TMP/snaps/snap\"}"; c3=$code
api PUT vm.resume; c4=$code
wait "$pid"
rc=$?
if [ "$c1$c3$c4" = 204204204 ] && [ -f "$TMP/snaps/snap/state" ] && [ "$rc" = 1 ] &&
   grep -q "$DONE" "$TMP/out"; then
    ok "${NAMES[0]}"
else
    echo "#   pause $c1, snapshot $c3, resume $c4, status $rc"
    not_ok "${NAMES[0]}" "$TMP/err"
fi
if [ "$c2" = 500 ] && [[ $b2 == *"Permission denied"* ]] && [ ! -e "$TMP/other/snap" ] &&
   grep -q "$DONE" "$TMP/out"; then
    ok "${NAMES[1]}"
else
    echo "#   snapshot $c2: $b2"
    not_ok "${NAMES[1]}" "$TMP/err"
fi

S=$TMP/empty.sock
timeout -k 5 "$LIMIT" "$KVMBOX" run --landlock --landlock-rules "path=$G,access=r" \
    --api-socket "$S" > "$TMP/e.out" 2> "$TMP/e.err" < /dev/null &
pid=$!
for _ in $(seq 250); do [ -S "$S" ] && break; sleep 0.02; done
api PUT vm.create "{\"payload\":{\"kernel\":\"$G/boot-pvh.elf\"},\"memory\":{\"size\":67108864},\"disks\":[{\"path\":\"$TMP/other/unnamed.img\"}]}"
c1=$code
api PUT vm.boot; c2=$code; b2=$body
api PUT vmm.shutdown
wait "$pid"
if [ "$c1" = 204 ] && [ "$c2" = 500 ] && [[ $b2 == *"unnamed.img"*"ermission denied"* ]]; then
    ok "${NAMES[2]}"
else
    echo "#   create $c1, boot $c2: $b2"
    not_ok "${NAMES[2]}" "$TMP/e.err"
fi

"$KVMBOX" run --landlock --landlock-rules "path=/x,access=x" --kernel "$G/boot-pvh.elf" 2> "$TMP/err1"
r1=$?
"$KVMBOX" run --landlock-rules "path=/x,access=r" --kernel "$G/boot-pvh.elf" 2> "$TMP/err2"
r2=$?
if [ "$r1$r2" = 11 ] && grep -q "access is r, w or rw" "$TMP/err1" &&
   grep -q "without --landlock" "$TMP/err2"; then
    ok "${NAMES[3]}"
else
    echo "#   status $r1 $r2"
    not_ok "${NAMES[3]}" "$TMP/err1" "$TMP/err2"
fi
exit 0
