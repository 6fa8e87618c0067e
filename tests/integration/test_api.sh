#!/usr/bin/env bash
# Cloud Hypervisor's REST API on --api-socket, driven with curl as a user
# (or an orchestrator written for CH) would: ping, info, pause and resume
# with their state changes and refusals, errors for unknown endpoints and
# methods, the socket's mode, a second kvmbox on the same socket, a stale
# socket replaced, and vmm.shutdown ending the process with status 0.
. "$(dirname "$0")/lib.sh"

NAMES=("api: vmm.ping answers with the version and pid; the socket is mode 0600"
       "api: vm.info says Running, with the VM's config"
       "api: vm.pause gives 204 and Paused; a second pause is refused with 500"
       "api: vm.resume gives 204 and Running; resume while running is refused"
       "api: unknown endpoint 404, wrong method 400, errors are JSON arrays"
       "api: a second kvmbox on the same socket gets a clear error"
       "api: vmm.shutdown answers 200 and the process exits 0, removing its socket"
       "api: a stale socket left by a dead kvmbox is replaced"
       "events: --event-monitor has a JSON line per state change, in order; vCPU threads are named"
       "api: vm.power-button gives 204 while running, 500 while paused")
api_tests_need_curl

S=$TMP/api.sock

timeout -k 5 120 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --cmdline spin --api-socket "$S" \
    --event-monitor path="$TMP/events" < /dev/null > "$TMP/out" 2> "$TMP/err" &
pid=$!
for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.1; done

api GET vmm.ping
vmm_pid=$(pgrep -P $pid kvmbox)      # $pid is timeout's
check "${NAMES[0]}" eval '[ "$code" = 200 ] && [[ $body == *"\"pid\":$vmm_pid,"* ]] && [[ $body == *"\"version\""* ]] && [ "$(stat -c %a "$S")" = 600 ]'

api GET vm.info
check "${NAMES[1]}" eval '[ "$code" = 200 ] && [[ $body == *"\"state\":\"Running\""* ]] && [[ $body == *"\"boot_vcpus\":1"* ]]'

api PUT vm.pause; c1=$code
api GET vm.info; s1=$body
api PUT vm.pause; c2=$code; b2=$body
check "${NAMES[2]}" eval '[ "$c1" = 204 ] && [[ $s1 == *"\"state\":\"Paused\""* ]] && [ "$c2" = 500 ] && [[ $b2 == *"already paused"* ]]'

api PUT vm.power-button; pb_paused=$code
api PUT vm.resume; c1=$code
api GET vm.info; s1=$body
api PUT vm.resume; c2=$code
check "${NAMES[3]}" eval '[ "$c1" = 204 ] && [[ $s1 == *"\"state\":\"Running\""* ]] && [ "$c2" = 500 ]'

api PUT vm.power-button; pb_running=$code
check "${NAMES[9]}" eval '[ "$pb_running" = 204 ] && [ "$pb_paused" = 500 ]'

api GET vm.nonsense; c1=$code; b1=$body
api GET vm.pause; c2=$code
check "${NAMES[4]}" eval '[ "$c1" = 404 ] && [[ $b1 == "[\""*"\"]" ]] && [ "$c2" = 400 ]'

timeout -k 5 20 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --cmdline spin --api-socket "$S" \
    < /dev/null > /dev/null 2> "$TMP/err2"
rc2=$?
check "${NAMES[5]}" eval '[ "$rc2" = 1 ] && grep -q "another kvmbox is serving this socket" "$TMP/err2"'

threads=$(cat /proc/"$(pgrep -P $pid kvmbox)"/task/*/comm 2>/dev/null | tr '\n' ' ')
api PUT vmm.shutdown; c1=$code
wait $pid; rc=$?
check "${NAMES[6]}" eval '[ "$c1" = 200 ] && [ "$rc" = 0 ] && [ ! -e "$S" ]'

# A socket file nobody serves (its kvmbox was killed): the next one takes it.
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$S"
timeout -k 5 120 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --cmdline spin --api-socket "path=$S" \
    < /dev/null > "$TMP/out" 2> "$TMP/err" &
pid=$!
for _ in $(seq 100); do api GET vmm.ping; [ "$code" = 200 ] && break; sleep 0.1; done
c1=$code
api PUT vmm.shutdown
wait $pid; rc=$?
check "${NAMES[7]}" eval '[ "$c1" = 200 ] && [ "$rc" = 0 ]'

# The events of the first run, in order (two pauses: the second refused).
events=$(sed -E 's/.*"source":"([a-z]+)","event":"([a-z]+)".*/\1:\2/' "$TMP/events" | tr '\n' ' ')
want="vmm:starting vm:booting vm:booted vm:pausing vm:paused vm:resuming vm:resumed vm:shutdown vmm:shutdown "
shape_ok=$(grep -cE '^\{"timestamp":\{"secs":[0-9]+,"nanos":[0-9]+\},"source":"vmm?","event":"[a-z]+","properties":null\}$' "$TMP/events")
check "${NAMES[8]}" eval '[ "$events" = "$want" ] && [ "$shape_ok" = 9 ] && [[ $threads == *vcpu0* ]]'
