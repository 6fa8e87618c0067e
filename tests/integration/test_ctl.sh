#!/usr/bin/env bash
# `kvmbox ctl` driving a running kvmbox as a user would: ping and info print
# JSON, a pause/resume round trip shows in info, a refused pause exits 1
# with the server's message, bad usage and a missing socket exit 1 with a
# clear message, and shutdown-vmm ends the VMM with status 0.
. "$(dirname "$0")/lib.sh"

NAMES=("ctl: ping prints the VMM's version and pid as JSON"
       "ctl: info prints the VM's state, Running"
       "ctl: pause and resume exit 0 silently; info shows Paused, then Running"
       "ctl: a second pause exits 1 with the server's error on stderr"
       "ctl: an unknown command exits 1 with usage"
       "ctl: a missing socket exits 1 saying it cannot connect"
       "ctl: shutdown-vmm exits 0 and kvmbox exits 0")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi

S=$TMP/api.sock
# ctl ARGS...: kvmbox ctl on $S; sets $rc, $TMP/out, $TMP/err.
ctl() { kv ctl --api-socket "$S" "$@"; }

timeout -k 5 120 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --cmdline spin --api-socket "$S" \
    < /dev/null > "$TMP/vm-out" 2> "$TMP/vm-err" &
pid=$!
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.1; done

ctl ping
vmm_pid=$(pgrep -P $pid kvmbox)      # $pid is timeout's
expect "${NAMES[0]}" 0 "^  \"pid\": $vmm_pid,?\$"

ctl info
expect "${NAMES[1]}" 0 '^  "state": "Running",?$'

ctl pause; r1=$rc; o1=$(cat "$TMP/out" "$TMP/err")
kv ctl --api-socket="$S" info; s1=$(cat "$TMP/out")
ctl pause; r2=$rc; cp "$TMP/err" "$TMP/err-pause2"; o2=$(cat "$TMP/out")
ctl resume; r3=$rc; o3=$(cat "$TMP/out" "$TMP/err")
kv ctl --api-socket "path=$S" info; s2=$(cat "$TMP/out")
if [ "$r1" = 0 ] && [ -z "$o1" ] && [[ $s1 == *'"state": "Paused"'* ]] &&
   [ "$r3" = 0 ] && [ -z "$o3" ] && [[ $s2 == *'"state": "Running"'* ]]; then
    ok "${NAMES[2]}"
else
    echo "#   pause $r1 '$o1', info '$s1', resume $r3 '$o3', info '$s2'"
    not_ok "${NAMES[2]}"
fi
if [ "$r2" = 1 ] && [ -z "$o2" ] &&
   grep -q '^kvmbox: error: vm.pause: .*already paused' "$TMP/err-pause2"; then
    ok "${NAMES[3]}"
else
    echo "#   second pause: status $r2"
    not_ok "${NAMES[3]}" "$TMP/err-pause2"
fi

ctl frobnicate
if [ "$rc" = 1 ] && grep -q "^kvmbox: error: ctl: unknown command 'frobnicate'" "$TMP/err" &&
   grep -q '^usage: kvmbox ctl' "$TMP/err"; then
    ok "${NAMES[4]}"
else
    echo "#   status $rc"
    not_ok "${NAMES[4]}" "$TMP/err"
fi

kv ctl --api-socket "$TMP/none.sock" ping
expect "${NAMES[5]}" 1 "" "^kvmbox: error: cannot connect to $TMP/none.sock: No such file or directory\$"

ctl shutdown-vmm; r1=$rc; o1=$(cat "$TMP/out" "$TMP/err")
wait $pid; vm_rc=$?
if [ "$r1" = 0 ] && [ -z "$o1" ] && [ "$vm_rc" = 0 ] && [ ! -e "$S" ]; then
    ok "${NAMES[6]}"
else
    echo "#   ctl $r1 '$o1', kvmbox exited $vm_rc"
    not_ok "${NAMES[6]}" "$TMP/vm-err"
fi
