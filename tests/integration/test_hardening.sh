#!/usr/bin/env bash
# What a hostile or careless environment does to kvmbox's standard streams:
# closed stdin, stdout or stderr must never make kvmbox write into (or read
# from) a disk image, and a stdout that nobody reads must neither block the
# guest nor make SIGTERM ineffective.
. "$(dirname "$0")/lib.sh"

NAMES=("closed stdout: guest output never reaches the disk image"
       "closed stderr: kvmbox's warnings never reach the disk image"
       "closed stdin: the disk image is not read as typed input"
       "stdout a pipe nobody reads: SIGTERM still stops the VM (status 143)"
       "out of file descriptors: one clear error naming the cause and the limit")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi

# A disk whose size is not a multiple of 512 (kvmbox warns about it on
# stderr) and whose bytes are zeros except for a marker that a guest
# would see as typed input if the image became stdin.
make_disk() {
    head -c 65000 /dev/zero > "$TMP/disk.img"
    printf 'typed text.' | dd of="$TMP/disk.img" bs=1 seek=0 conv=notrunc status=none
    cp "$TMP/disk.img" "$TMP/disk.orig"
}

# closed NAME REDIRECTION: runs the echo guest with one stream closed.
closed() {
    make_disk
    case $2 in
    stdout) timeout -k 5 "$LIMIT" "$KVMBOX" run --kernel "$G/boot-pvh.elf" --debug-exit \
                --disk path="$TMP/disk.img" --cmdline "kvmbox-test exit_code=2" \
                < /dev/null >&- 2> "$TMP/err" ;;
    stderr) timeout -k 5 "$LIMIT" "$KVMBOX" run --kernel "$G/boot-pvh.elf" --debug-exit \
                --disk path="$TMP/disk.img" --cmdline "kvmbox-test exit_code=2" \
                < /dev/null > "$TMP/out" 2>&- ;;
    stdin)  # The echo guest waits for a line ending in '.': with the image
            # as stdin it would get one and exit; it must wait until stopped.
            timeout -k 5 "$LIMIT" "$KVMBOX" run --kernel "$G/boot-pvh.elf" --debug-exit \
                --disk path="$TMP/disk.img" --cmdline "echo exit_code=2" \
                <&- > "$TMP/out" 2> "$TMP/err" &
            local pid=$!
            for _ in $(seq 100); do grep -q "echo: ready" "$TMP/out" && break; sleep 0.1; done
            sleep 1
            kill -TERM $pid 2>/dev/null
            wait $pid ;;
    esac
    rc=$?
    local want=5
    [ "$2" = stdin ] && want=143
    if [ "$rc" -ne $want ]; then
        echo "#   exit status $rc, expected $want"
        not_ok "$1" "$TMP/out" "$TMP/err"
    elif ! cmp -s "$TMP/disk.img" "$TMP/disk.orig"; then
        echo "#   the disk image changed:"
        cmp "$TMP/disk.img" "$TMP/disk.orig" | sed 's/^/#   /'
        not_ok "$1"
    elif [ "$2" = stdin ] && grep -q "echo: got 'typed" "$TMP/out"; then
        echo "#   the guest received the disk's bytes as input"
        not_ok "$1" "$TMP/out"
    else
        ok "$1"
    fi
}
: > "$TMP/out"; : > "$TMP/err"
closed "${NAMES[0]}" stdout
closed "${NAMES[1]}" stderr
closed "${NAMES[2]}" stdin

# A guest that writes its console without end into a pipe that nobody
# reads: once the pipe is full, kvmbox must still take SIGTERM.
mkfifo "$TMP/pipe"
exec 4<> "$TMP/pipe"                 # held open, never read
# A one-page pipe fills in well under a second even where the guest's
# code is emulated (F_SETPIPE_SZ is 1031).
python3 -c 'import fcntl, os, sys; fcntl.fcntl(os.open(sys.argv[1], os.O_RDWR), 1031, 4096)' \
    "$TMP/pipe" 2>/dev/null
timeout -k 5 "$LIMIT" "$KVMBOX" run --kernel "$G/boot-pvh.elf" --cmdline "flood" \
    < /dev/null >&4 2> "$TMP/err" &
pid=$!
sleep 3                              # long enough to fill a 64 KiB pipe
kill -TERM $pid
wait $pid; rc=$?
exec 4>&-
expect "${NAMES[3]}" 143 "" "terminating on signal 15"

# Too few file descriptors for the devices (a hard limit kvmbox cannot
# raise): an error that names the cause and what to do, status 1. Which
# call meets the limit first depends on how many descriptors this shell
# hands down (a CI runner may hold more open than a terminal), so every
# limit from too few to enough is tried, and each must either boot or
# fail that way.
truncate -s 1M "$TMP/small.img"
failures=0 booted=0 bad=
for n in $(seq 10 200); do
    (ulimit -n "$n"; exec timeout -k 5 "$LIMIT" "$KVMBOX" run --kernel "$G/boot-pvh.elf" \
        --disk path="$TMP/small.img" --rng < /dev/null > "$TMP/out" 2> "$TMP/err")
    rc=$?
    if [ "$rc" -eq 0 ]; then
        booted=$n; break
    elif [ "$rc" -eq 1 ] && grep -Eq "Too many open files .*ulimit -n" "$TMP/err"; then
        failures=$((failures + 1))
    else
        bad="ulimit -n $n: exit status $rc"; break
    fi
done
echo "# $failures limits refused with the cause named; booted at ulimit -n ${booted:-never}"
if [ -n "$bad" ]; then
    echo "#   $bad, expected 1 and the limit named"
    not_ok "${NAMES[4]}" "$TMP/out" "$TMP/err"
elif [ "$failures" -eq 0 ] || [ -z "$booted" ]; then
    echo "#   expected some limits refused and one enough to boot"
    not_ok "${NAMES[4]}" "$TMP/out" "$TMP/err"
else
    ok "${NAMES[4]}"
fi
