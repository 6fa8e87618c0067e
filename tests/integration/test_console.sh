#!/usr/bin/env bash
# The console and stopping from the outside: stdin reaches the guest's
# UART, signals stop the VM cleanly, Ctrl-A x quits a terminal session and
# the terminal is restored.
. "$(dirname "$0")/lib.sh"

NAMES=("stdin reaches the guest UART" "SIGTERM stops the VM with status 143"
       "SIGINT stops the VM with status 130" "Ctrl-A x quits and restores the terminal"
       "a crash (SIGSEGV) still restores the terminal" "an abort (SIGABRT) still restores the terminal")
if ! have_kvm; then
    for n in "${NAMES[@]}"; do skip "$n" "no usable /dev/kvm"; done
    exit 0
fi

mkfifo "$TMP/in"
timeout 60 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --debug-exit --cmdline "echo exit_code=2" \
    < "$TMP/in" > "$TMP/out" 2> "$TMP/err" &
pid=$!
exec 3> "$TMP/in"
if wait_for "$TMP/out" "echo: ready"; then printf 'typed text.' >&3; fi
exec 3>&-
wait $pid; rc=$?
expect "${NAMES[0]}" 5 "echo: got 'typed text'"

for sig in TERM INT; do
    want=$([ $sig = TERM ] && echo 143 || echo 130)
    timeout 60 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --cmdline "spin" \
        < /dev/null > "$TMP/out" 2> "$TMP/err" &
    pid=$!
    wait_for "$TMP/out" "spin: running" && kill -$sig $pid
    wait $pid; rc=$?
    expect "SIG$sig stops the VM with status $want" "$want" "spin: running" "terminating on signal"
done

if command -v python3 >/dev/null; then
    python3 "$(dirname "$0")/pty_quit.py" "$KVMBOX" "$G/boot-pvh.elf" > "$TMP/out" 2>&1; rc=$?
    expect "${NAMES[3]}" 0 "terminal restored"
    python3 "$(dirname "$0")/pty_quit.py" "$KVMBOX" "$G/boot-pvh.elf" SEGV > "$TMP/out" 2>&1; rc=$?
    expect "${NAMES[4]}" 0 "terminal restored"
    python3 "$(dirname "$0")/pty_quit.py" "$KVMBOX" "$G/boot-pvh.elf" ABRT > "$TMP/out" 2>&1; rc=$?
    expect "${NAMES[5]}" 0 "terminal restored"
else
    skip "${NAMES[3]}" "python3 not installed"
    skip "${NAMES[4]}" "python3 not installed"
    skip "${NAMES[5]}" "python3 not installed"
fi
