#!/usr/bin/env bash
# Guest RAM's backings (--memory size=,shared=,hugepages=) and what an
# idle VM keeps mapped: libslirp (and glib with it) only when a --net user
# NIC exists, and a clear error when it is needed and missing.
. "$(dirname "$0")/lib.sh"

PASS="guest: all [0-9]+ checks passed"
MIB=1048576

# Refused while parsing, before /dev/kvm is opened.
kv run --kernel "$G/boot-pvh.elf" --memory size=3M,hugepages=on
expect "--memory hugepages=on refuses a size that is not a multiple of 2M" 1 "" \
    "with hugepages=on the size must be a multiple of 2M"
kv run --kernel "$G/boot-pvh.elf" --memory size=64M,huge=on
expect "--memory refuses an unknown key and names the known ones" 1 "" \
    "unknown key 'huge' \(size, shared, hugepages\)"
kv run --kernel "$G/boot-pvh.elf" --memory size=64M,shared=yes
expect "--memory shared= takes on or off" 1 "" "shared= takes on or off"

NAMES=("--memory 128M: anonymous RAM advised for transparent huge pages (-v says so)"
       "--memory size=256M,shared=on: the guest boots on a memfd and sees 256 MiB"
       "--memory size=256M,hugepages=on: boots on hugetlbfs pages, or says how many free huge pages it needs"
       "an idle VM without --net user does not load libslirp or glib; with one it does"
       "--net user without libslirp: a clear error, and a VM without a NIC still runs")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi

kv run -v --kernel "$G/boot-pvh.elf" --memory 128M --debug-exit \
   --cmdline "kvmbox-test expect_mem=$((128 * MIB))"
expect "${NAMES[0]}" 33 "$PASS" "guest RAM: 128 MiB in anonymous memory, transparent huge pages"

kv run -v --kernel "$G/boot-pvh.elf" --memory size=256M,shared=on --debug-exit \
   --cmdline "kvmbox-test expect_mem=$((256 * MIB))"
expect "${NAMES[1]}" 33 "$PASS" "guest RAM: 256 MiB in a memfd \(shared=on\)"

free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
size2m=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
kv run --kernel "$G/boot-pvh.elf" --memory size=256M,hugepages=on --debug-exit \
   --cmdline "kvmbox-test expect_mem=$((256 * MIB))"
if [ "${free:-0}" -ge 128 ] && [ "${size2m:-0}" = 2048 ]; then
    expect "${NAMES[2]}" 33 "$PASS"
else
    expect "${NAMES[2]}" 1 "" "hugepages=on: .*(the guest needs 128 free 2 MiB huge pages, the host has|offers no 2 MiB)"
fi

# idle_maps OUT ARGS...: runs the idle first-byte guest with ARGS until it
# has written its byte, copies kvmbox's /proc/PID/maps to OUT, stops it.
idle_maps() {
    local out=$1
    shift
    rm -f "$TMP/fifo"
    mkfifo "$TMP/fifo"
    "$KVMBOX" run --kernel "$G/first-byte.elf" --memory 64M --cmdline spin "$@" \
        > "$TMP/fifo" 2> "$TMP/err" < /dev/null &
    local pid=$!
    timeout 20 head -c 1 "$TMP/fifo" > /dev/null
    cp "/proc/$pid/maps" "$out" 2> /dev/null
    kill "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
}
idle_maps "$TMP/maps.plain"
idle_maps "$TMP/maps.user" --net user
if [ ! -s "$TMP/maps.plain" ] || [ ! -s "$TMP/maps.user" ]; then
    not_ok "${NAMES[3]}" "$TMP/err"
elif grep -Eq "libslirp|libglib" "$TMP/maps.plain"; then
    echo "#   without --net user:"
    grep -E "libslirp|libglib" "$TMP/maps.plain" | sed 's/^/#   /' | head -3
    not_ok "${NAMES[3]}"
elif ! grep -q "libslirp" "$TMP/maps.user"; then
    echo "#   with --net user, libslirp is not mapped"
    not_ok "${NAMES[3]}" "$TMP/err"
else
    ok "${NAMES[3]}"
fi

# Hide libslirp in a private mount namespace (an empty file over it).
lib=$(ldconfig -p 2> /dev/null | awk '/libslirp\.so\.0 / { print $NF; exit }')
if [ -z "$lib" ] || ! unshare -m true 2> /dev/null; then
    skip "${NAMES[4]}" "needs libslirp.so.0 in the linker cache and unshare -m (root)"
else
    hide="mount --bind /dev/null '$lib' && exec \"\$@\""
    timeout -k 5 "$LIMIT" unshare -m --propagation private sh -c "$hide" sh \
        "$KVMBOX" run --kernel "$G/boot-pvh.elf" --memory 64M --debug-exit --net user \
        --cmdline "kvmbox-test" > "$TMP/out" 2> "$TMP/err" < /dev/null
    rc=$?
    if [ "$rc" -ne 1 ] || ! grep -q -- "--net user needs libslirp (Debian package libslirp0)" "$TMP/err"; then
        echo "#   with libslirp hidden and --net user: status $rc"
        not_ok "${NAMES[4]}" "$TMP/err"
    else
        timeout -k 5 "$LIMIT" unshare -m --propagation private sh -c "$hide" sh \
            "$KVMBOX" run --kernel "$G/boot-pvh.elf" --memory 64M --debug-exit \
            --cmdline "kvmbox-test" > "$TMP/out" 2> "$TMP/err" < /dev/null
        rc=$?
        expect "${NAMES[4]}" 33 "$PASS"
    fi
fi
