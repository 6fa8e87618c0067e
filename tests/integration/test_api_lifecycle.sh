#!/usr/bin/env bash
# The VM's whole life through the API, as an orchestrator drives Cloud
# Hypervisor: kvmbox started with --api-socket alone has no VM; a bad
# VmConfig is refused with 400; `kvmbox ctl create` and `boot` bring the
# VM up; shutdown keeps the config and boot boots it again; reboot makes a
# new VM; delete forgets it; a guest that resets is rebooted; device
# threads carry the devices' ids; the event monitor saw it all in order.
. "$(dirname "$0")/lib.sh"

NAMES=("lifecycle: started with --api-socket alone there is no VM: vm.info and vm.boot answer 404"
       "lifecycle: a malformed VmConfig gets 400 with a JSON error naming the field; nothing is created"
       "lifecycle: ctl create (a VmConfig on stdin) and ctl boot: Running, the guest runs"
       "lifecycle: wrong-state requests get 500 (boot while running, create twice, pause before boot)"
       "lifecycle: vm.shutdown leaves Shutdown with the config kept; vm.boot boots it again"
       "lifecycle: vm.reboot boots a new VM from the same config"
       "lifecycle: the disk's worker thread is named by its id, as CH names it"
       "lifecycle: vm.delete forgets the VM (vm.info 404); vm.info's config creates the same VM again"
       "lifecycle: the event monitor has each change, in order"
       "lifecycle: with the API, a guest that resets is rebooted, not ended")
api_tests_need_curl

S=$TMP/api.sock
ctl() { kv ctl --api-socket "$S" "$@"; }
state() { api GET vm.info; sed -E 's/.*"state":"([A-Za-z]+)".*/\1/' <<< "$body"; }
wait_socket() { for _ in $(seq 100); do [ -S "$S" ] && break; sleep 0.1; done; }

truncate -s 1M "$TMP/disk.img"
timeout -k 5 180 "$KVMBOX" run --api-socket "$S" --event-monitor path="$TMP/events" \
    < /dev/null > "$TMP/out" 2> "$TMP/err" &
pid=$!
wait_socket

api GET vm.info; c1=$code; b1=$body
api PUT vm.boot; c2=$code
check "${NAMES[0]}" eval '[ "$c1" = 404 ] && [ "$c2" = 404 ] && [[ $b1 == "[\""*"vm.create"* ]]'

api PUT vm.create '{"payload":{"kernel":"x"},"cpus":{"boot_vcpus":"two"}}'; c1=$code; b1=$body
api PUT vm.create '{"payload":'; c2=$code
api GET vm.info; c3=$code
check "${NAMES[1]}" eval '[ "$c1" = 400 ] && [[ $b1 == *boot_vcpus* ]] && [ "$c2" = 400 ] && [ "$c3" = 404 ]'

cat > "$TMP/vm.json" <<JSON
{"payload": {"kernel": "$G/boot-pvh.elf", "cmdline": "virtio blk_keep spin", "firmware": null},
 "cpus": {"boot_vcpus": 2, "max_vcpus": 2, "topology": null},
 "memory": {"size": 134217728, "mergeable": false},
 "disks": [{"path": "$TMP/disk.img", "readonly": false, "direct": false, "id": null}],
 "rng": {"src": "/dev/urandom"}, "serial": {"mode": "Tty"}, "console": {"mode": "Off"},
 "iommu": false, "watchdog": false}
JSON
timeout -k 5 30 "$KVMBOX" ctl --api-socket "$S" create - < "$TMP/vm.json" 2>> "$TMP/err"; r1=$?
s1=$(state)
ctl boot; r2=$rc
s2=$(state)
for _ in $(seq 300); do grep -q "spin: running" "$TMP/out" && break; sleep 0.1; done
check "${NAMES[2]}" eval '[ "$r1" = 0 ] && [ "$s1" = Created ] && [ "$r2" = 0 ] && [ "$s2" = Running ] && grep -q "spin: running" "$TMP/out"'

api PUT vm.boot; c1=$code; b1=$body
api PUT vm.create "$(cat "$TMP/vm.json")"; c2=$code
check "${NAMES[3]}" eval '[ "$c1" = 500 ] && [[ $b1 == *"already running"* ]] && [ "$c2" = 500 ]'

vmm_pid=$(pgrep -P $pid kvmbox)      # $pid is timeout's
threads=$(cat /proc/"$vmm_pid"/task/*/comm 2>/dev/null | tr '\n' ' ')

api PUT vm.shutdown; c1=$code
api GET vm.info; cfg_kept=$body; s1=$(state)
api PUT vm.pause; c2=$code
api PUT vm.boot; c3=$code
s2=$(state)
check "${NAMES[4]}" eval '[ "$c1" = 204 ] && [ "$s1" = Shutdown ] && [[ $cfg_kept == *boot-pvh.elf* ]] && [ "$c2" = 500 ] && [ "$c3" = 204 ] && [ "$s2" = Running ]'

n_before=$(grep -c "spin: running" "$TMP/out")
api PUT vm.reboot; c1=$code
for _ in $(seq 300); do [ "$(grep -c "spin: running" "$TMP/out")" -gt "$n_before" ] && break; sleep 0.1; done
s1=$(state)
check "${NAMES[5]}" eval '[ "$c1" = 204 ] && [ "$s1" = Running ] && [ "$(grep -c "spin: running" "$TMP/out")" -gt "$n_before" ]'

check "${NAMES[6]}" eval '[[ $threads == *vcpu0*vcpu1* || $threads == *vcpu1*vcpu0* ]] && [[ $threads == *_disk0* ]] || { echo "#   threads: $threads"; false; }'

# Every kind of setting, extensions included: vm.info gives back what
# vm.create takes.
api PUT vm.delete; c1=$code
api GET vm.info; c2=$code
cat > "$TMP/rich.json" <<JSON
{"payload": {"kernel": "$G/boot-pvh.elf", "cmdline": "spin", "initramfs": "$TMP/disk.img"},
 "cpus": {"boot_vcpus": 3, "max_vcpus": 3}, "memory": {"size": 268435456, "shared": true},
 "disks": [{"path": "$TMP/disk.img", "readonly": true, "serial": "s1", "id": "root"}],
 "net": [{"tap": "kvmboxtap9", "mac": "52:54:00:aa:bb:cc"},
         {"kvmbox": {"user": true, "hostfwd": ["tcp:127.0.0.1:2222-:22"], "restrict": true}}],
 "rng": {"src": "/dev/urandom"}, "console": {"mode": "Tty"},
 "kvmbox": {"debug_exit": true, "testdev": false, "cpu_filter": "avx,cx16"}}
JSON
config_of() { python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["config"], sort_keys=True))'; }
api PUT vm.create "$(cat "$TMP/rich.json")"; c3=$code
api GET vm.info; cfg1=$(config_of <<< "$body")
api PUT vm.delete
api PUT vm.create "$cfg1"; c4=$code
api GET vm.info; cfg2=$(config_of <<< "$body")
check "${NAMES[7]}" eval '[ "$c1" = 204 ] && [ "$c2" = 404 ] && [ "$c3" = 204 ] && [ "$c4" = 204 ] && [ "$cfg1" = "$cfg2" ] && [[ $cfg1 == *"\"id\": \"root\""*"_net2"* ]] || { echo "#   $cfg1"; echo "#   $cfg2"; false; }'

api PUT vmm.shutdown
wait $pid
events=$(sed -E 's/.*"source":"([a-z]+)","event":"([a-z]+)".*/\1:\2/' "$TMP/events" | tr '\n' ' ')
want="vmm:starting vm:booting vm:booted vm:shutdown vm:booting vm:booted vm:rebooting vm:shutdown vm:booting vm:booted vm:rebooted vm:shutdown vm:deleted vm:deleted vmm:shutdown "
check "${NAMES[8]}" eval '[ "$events" = "$want" ] || { echo "#   events: $events"; false; }'

# A guest that resets at once: each reset is a reboot while the API serves.
rm -f "$S"
timeout -k 5 120 "$KVMBOX" run --kernel "$G/boot-pvh.elf" --cmdline "exit=reset" --api-socket "$S" \
    --event-monitor path="$TMP/events2" < /dev/null > "$TMP/out2" 2> "$TMP/err" &
pid=$!
wait_socket
for _ in $(seq 300); do [ "$(grep -c '"rebooted"' "$TMP/events2")" -ge 2 ] && break; sleep 0.1; done
api GET vmm.ping; c1=$code
api PUT vmm.shutdown
wait $pid; rc=$?
check "${NAMES[9]}" eval '[ "$(grep -c "\"rebooted\"" "$TMP/events2")" -ge 2 ] && [ "$c1" = 200 ] && [ "$rc" = 0 ]'
