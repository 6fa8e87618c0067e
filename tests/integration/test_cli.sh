#!/usr/bin/env bash
# The command line from the outside: help, version, and every bad input
# gets one clear line on stderr and exit status 1; none needs /dev/kvm.
. "$(dirname "$0")/lib.sh"

kv --help;               expect "--help exits 0 with usage" 0 "usage: kvmbox"
kv --version;            expect "--version prints the version" 0 "^kvmbox [0-9]"
kv run --help;           expect "run --help lists options and CPU features" 0 "cpu-filter.*" 
grep -q "cx16" "$TMP/out" && ok "run --help names the --cpu-filter features" || not_ok "run --help names the --cpu-filter features"
kv;                      expect "no command is an error" 1 "" "usage"
kv frobnicate;           expect "unknown command is an error" 1 "" "unknown command 'frobnicate'"

# One line on stderr, status 1, for each bad input.
bad() {
    local name=$1 re=$2
    shift 2
    kv "$@"
    if [ "$rc" -eq 1 ] && [ "$(wc -l < "$TMP/err")" -eq 1 ] && grep -Eq -- "$re" "$TMP/err"; then
        ok "$name"
    else
        echo "#   status $rc"
        not_ok "$name" "$TMP/err"
    fi
}
K=$G/boot-pvh.elf
bad "missing --kernel"            "--kernel is required"       run
bad "--kernel without a value"    "needs a value"              run --kernel
bad "unknown option"              "unknown option '--bogus'"   run --kernel "$K" --bogus
bad "stray argument"              "unexpected argument"        run --kernel "$K" stray
bad "missing kernel file"         "cannot open '/nonexistent/k'" run --kernel /nonexistent/k
bad "kernel is a directory"       "not a regular file"         run --kernel /
bad "kernel of no known format"   "not a known kernel format"  run --kernel /etc/os-release
: > "$TMP/empty"
bad "zero-byte kernel"            "not a known kernel format"  run --kernel "$TMP/empty"
head -c 100 "$G/boot-linux.bzImage" > "$TMP/trunc"
bad "truncated bzImage"           "not a known kernel format"  run --kernel "$TMP/trunc"
bad "missing initrd"              "cannot open '/nonexistent/rd'" run --kernel "$K" --initrd /nonexistent/rd
bad "malformed memory size"       "not a size"                 run --kernel "$K" --memory 12Q
bad "memory too small"            "too small"                  run --kernel "$K" --memory 1M
bad "memory too large"            "too large"                  run --kernel "$K" --memory 4T
bad "cpus zero"                   "from 1 to 255"              run --kernel "$K" --cpus 0
bad "cpus above 255"              "from 1 to 255"              run --kernel "$K" --cpus 256
# Strict values: plain decimal --cpus, whole sizes, exact MAC addresses,
# single-valued options given once, options spelled out.
bad "cpus in hex"                 "--cpus '0x2': expected a decimal number" run --kernel "$K" --cpus 0x2
bad "cpus with a leading space"   "--cpus ' 2': expected"      run --kernel "$K" --cpus " 2"
bad "cpus with trailing garbage"  "--cpus '2x': expected"      run --kernel "$K" --cpus 2x
bad "fractional memory size"      "--memory '1.5G' is not a size: expected a whole number" run --kernel "$K" --memory 1.5G
bad "MAC with '-' separators"     "mac=52-54-00-12-34-56: not a MAC address" run --kernel "$K" --net user,mac=52-54-00-12-34-56
bad "multicast MAC"               "mac=01:00:5e:00:00:01: a multicast address" run --kernel "$K" --net user,mac=01:00:5e:00:00:01
bad "--memory given twice"        "--memory given twice \('512M', then '1G'\)" run --kernel "$K" --memory 512M --memory 1G
bad "--kernel given twice"        "--kernel given twice"       run --kernel "$K" --kernel "$K"
bad "abbreviated option"          "unknown option '--mem' \(options are not abbreviated: did you mean --memory\?\)" run --kernel "$K" --mem 1G
bad "option missing its value"    "--kernel needs a value \(FILE\), but the next argument is the option '--cpus'" run --kernel --cpus 2
bad "--disk path= empty"          "--disk 'path=': path= has no value" run --kernel "$K" --disk path=
bad "--net with a stray comma"    "--net 'user,': empty item"  run --kernel "$K" --net user,
bad "flag given a value"          "option '--rng' takes no value" run --kernel "$K" --rng=on
bad "unknown cpu feature"         "unknown CPU feature 'warp'" run --kernel "$K" --cpu-filter avx,warp
bad "two initrds for Linux" "one --initrd" run --kernel "$G/boot-linux.bzImage" --initrd "$K,$K"
bad "missing disk file"           "--disk /nonexistent/d.img: No such file" run --kernel "$K" --disk path=/nonexistent/d.img
bad "--disk with an unknown key"  "unknown key 'size'"         run --kernel "$K" --disk path=x,size=1G
bad "--disk readonly=maybe"       "readonly= takes on or off"  run --kernel "$K" --disk path=x,readonly=maybe
bad "--disk serial too long"      "at most 20 characters"      run --kernel "$K" --disk path=x,serial=123456789012345678901
bad "--disk is a directory"       "Is a directory|not a regular file" run --kernel "$K" --disk path=/tmp
truncate -s 1M "$TMP/disk.img"
if command -v flock >/dev/null; then
    flock -x "$TMP/disk.img" sleep 20 &
    holder=$!
    sleep 0.2
    bad "disk locked by another process" "locked by another process" run --kernel "$K" --disk path="$TMP/disk.img"
    kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
else
    skip "disk locked by another process" "flock(1) is not installed"
fi
# The same against a running kvmbox that has the disk (needs /dev/kvm).
if have_kvm; then
    "$KVMBOX" run --kernel "$K" --disk path="$TMP/disk.img" --cmdline "kvmbox-test spin" \
        > "$TMP/first" 2>&1 < /dev/null &
    first=$!
    for i in $(seq 100); do grep -q "spin: running" "$TMP/first" && break; sleep 0.05; done
    bad "disk already in use by another kvmbox" "locked by another process" \
        run --kernel "$K" --disk path="$TMP/disk.img"
    kill -TERM "$first" 2>/dev/null; wait "$first" 2>/dev/null
else
    skip "disk already in use by another kvmbox" "no usable /dev/kvm"
fi
# Network backends fail at start-up, before KVM: a TAP that does not
# exist (a typo must not create one), a hostfwd port already taken.
bad "TAP that does not exist"     "no such network interface"  run --kernel "$K" --net tap=kvmbox-none0
bad "--net of an unknown kind"    "expected tap=IFNAME or user" run --kernel "$K" --net bridge=br0
bad "--net hostfwd malformed"     "hostfwd= takes"             run --kernel "$K" --net user,hostfwd=tcp:2222:22
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("0.0.0.0", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(30)' > "$TMP/port" &
holder=$!
for i in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
bad "hostfwd port already in use" "cannot listen there" \
    run --kernel "$K" --net "user,hostfwd=tcp::$(cat "$TMP/port")-:22"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null
bad "--console of an unknown kind" "expected serial or virtio" run --kernel "$K" --console vga
KVMBOX_KVM_DEVICE=/nonexistent/kvm bad "no KVM device" "does not exist" run --kernel "$K"
KVMBOX_KVM_DEVICE=/dev/null bad "not a KVM device" "not a usable KVM device" run --kernel "$K"

# Without permission on /dev/kvm: needs a KVM node root owns and setpriv.
if [ -e /dev/kvm ] && [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
   [ "$(stat -c %a /dev/kvm)" != 666 ]; then
    cp "$KVMBOX" "$TMP/kvmbox"; cp "$K" "$TMP/k"; chmod 755 "$TMP" "$TMP/kvmbox"; chmod 644 "$TMP/k"
    timeout 30 setpriv --reuid=65534 --regid=65534 --clear-groups "$TMP/kvmbox" run --kernel "$TMP/k" \
        > "$TMP/out" 2> "$TMP/err" < /dev/null
    rc=$?
    expect "no permission on /dev/kvm" 1 "" "permission denied"
else
    skip "no permission on /dev/kvm" "needs root, setpriv and a /dev/kvm not open to all"
fi
