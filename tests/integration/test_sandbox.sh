#!/usr/bin/env bash
# The sandbox (docs/security.md) on a running kvmbox with every kind of
# device thread: two disks, a user-mode NIC and one on a TAP, virtio-rng,
# virtio-console, the API: every thread is under a seccomp filter
# (Seccomp: 2), holds no capability (CapEff and CapPrm 0: root's dropped
# after start-up) and cannot gain privileges (NoNewPrivs: 1), and the guest's
# checks all pass under them; with --seccomp off, no filter but
# no_new_privs still.
. "$(dirname "$0")/lib.sh"

NAMES=("sandbox: every thread (main, vCPUs, spawner, console output, each device's) runs under a seccomp filter with no_new_privs and no capability, and the guest's virtio checks pass"
       "sandbox: --seccomp off: no filter, no_new_privs still")
api_tests_need_curl
MIB=1048576
head -c $((8 * MIB)) /dev/urandom > "$TMP/rw.img"
head -c $((1 * MIB)) /dev/urandom > "$TMP/ro.img"
HEAD=$(head -c 65536 "$TMP/rw.img" | cksum | cut -d' ' -f1)

# A TAP in a namespace of its own when this host allows it.
NS=kvmbox-sbx-$$
WRAP=() TAP=()
if [ "$(id -u)" = 0 ] && command -v ip > /dev/null && ip netns add "$NS" 2>/dev/null; then
    if ip -n "$NS" tuntap add dev ktap0 mode tap 2>/dev/null; then
        WRAP=(ip netns exec "$NS") TAP=(--net tap=ktap0)
    fi
fi
NVIRTIO=$((5 + ${#TAP[@]} / 2))

# run MODE: the guest checks its virtio devices, then counts long enough
# for the threads to be looked at; $pid is kvmbox.
run() {
    S=$TMP/api.sock
    rm -f "$S"
    timeout -k 5 "$LIMIT" "${WRAP[@]}" "$KVMBOX" run --seccomp "$1" --api-socket "$S" \
        --kernel "$G/boot-pvh.elf" --memory 128M --cpus 2 --debug-exit \
        --disk path="$TMP/rw.img",serial=kvmbox-disk0 --disk path="$TMP/ro.img",readonly=on \
        --rng --console virtio --net user "${TAP[@]}" \
        --cmdline "kvmbox-test virtio smp expect_cpus=2 expect_virtio=$NVIRTIO blk_serial=kvmbox-disk0 blk_bytes=$((8 * MIB)) blk_head=$HEAD count_to=600000" \
        > "$TMP/out" 2> "$TMP/err" < /dev/null &
    wrapper=$!
    for _ in $(seq 600); do grep -q "^count_to: 30000" "$TMP/out" 2>/dev/null && break; sleep 0.05; done
    pid=$(pgrep -P "$wrapper" | head -n1)      # (ip netns exec execs kvmbox)
}
# threads: "NAME SECCOMP NNP CAPEFF CAPPRM" for each thread of $pid
threads() {
    for t in /proc/"$pid"/task/*; do
        echo "$(cat "$t/comm") $(awk '/^Seccomp:/{s=$2} /^NoNewPrivs:/{n=$2} /^CapEff:/{e=$2} /^CapPrm:/{p=$2} END{print s, n, e, p}' "$t/status")"
    done
}
# finish: the guest counts to its end and leaves (status 33 in $rc).
finish() {
    wait "$wrapper"
    rc=$?
}

run on
list=$(threads)
api GET vmm.ping; ping=$code
finish
echo "$list" | sed 's/^/# /'
bad=$(echo "$list" | awk '$1 != "kvm-nx-lpage-re" && ($2 != 2 || $3 != 1 || $4 != "0000000000000000" || $5 != "0000000000000000")')
# (The guest resets the disks and the rng when it is done with them: their
# threads may have ended by the time the list is taken.)
if [ -z "$bad" ] && [ "$ping" = 200 ] && [ "$rc" = 33 ] && echo "$list" | grep -q "^vcpu1 " &&
   echo "$list" | grep -q "^spawner " && echo "$list" | grep -q "^_net" &&
   grep -q "all [0-9]* checks passed" "$TMP/out" && ! grep -q "seccomp" "$TMP/err"; then
    ok "${NAMES[0]}"
else
    echo "#   threads not filtered: ${bad:-none}; ping $ping; status $rc"
    not_ok "${NAMES[0]}" "$TMP/err"
fi

run off
list=$(threads)
finish
bad=$(echo "$list" | awk '$1 != "kvm-nx-lpage-re" && ($2 != 0 || $3 != 1)')
[ -z "$bad" ] && ok "${NAMES[1]}" || { echo "#   $bad"; not_ok "${NAMES[1]}" "$TMP/err"; }
[ -n "${WRAP[*]}" ] && ip netns del "$NS"
exit 0
