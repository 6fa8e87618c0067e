# Helpers for integration tests: run kvmbox as a user would and report
# "ok - NAME", "not ok - NAME" or "skip - NAME: why" lines for run-all.sh.
set -u
KVMBOX=${KVMBOX:-$BUILD/kvmbox}
G=$GUEST_BUILD
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
LIMIT=${KVMBOX_TEST_TIMEOUT:-60}

# KVMBOX_TEST_NO_KVM=1 pretends there is none, to check the skip path.
have_kvm() { [ -z "${KVMBOX_TEST_NO_KVM:-}" ] && [ -r /dev/kvm ] && [ -w /dev/kvm ]; }

ok() { echo "ok - $1"; }
not_ok() {
    echo "not ok - $1"
    shift
    for f in "$@"; do [ -f "$f" ] && sed 's/^/#   /' "$f" | tail -25; done
}
skip() { echo "skip - $1: $2"; }

# kv ARGS...: runs kvmbox with a time limit; sets $rc, $TMP/out, $TMP/err.
kv() {
    timeout -k 5 "$LIMIT" "$KVMBOX" "$@" > "$TMP/out" 2> "$TMP/err" < /dev/null
    rc=$?
}

# expect NAME STATUS [GREP-IN-STDOUT] [GREP-IN-STDERR]
expect() {
    local name=$1 status=$2 out_re=${3:-} err_re=${4:-}
    if [ "$rc" -ne "$status" ]; then
        echo "#   exit status $rc, expected $status"
        not_ok "$name" "$TMP/out" "$TMP/err"
    elif [ -n "$out_re" ] && ! grep -Eq -- "$out_re" "$TMP/out"; then
        echo "#   stdout lacks /$out_re/"
        not_ok "$name" "$TMP/out" "$TMP/err"
    elif [ -n "$err_re" ] && ! grep -Eq -- "$err_re" "$TMP/err"; then
        echo "#   stderr lacks /$err_re/"
        not_ok "$name" "$TMP/out" "$TMP/err"
    else
        ok "$name"
    fi
}

# mod_arg INDEX FILE: "modI=SIZE:CKSUM" as the test guest expects it.
mod_arg() { cksum < "$2" | awk -v i="$1" '{ printf "mod%d=%s:%s", i, $2, $1 }'; }

# The API tests' helpers. api_tests_need_curl: every test in NAMES is
# skipped (and the script ends) without /dev/kvm or curl.
api_tests_need_curl() {
    local why=
    have_kvm || why="no usable /dev/kvm"
    [ -z "$why" ] && ! command -v curl >/dev/null && why="curl not installed"
    [ -z "$why" ] && return 0
    for n in "${NAMES[@]}"; do skip "$n" "$why"; done
    exit 0
}
# api METHOD ENDPOINT [BODY]: one request to the API socket $S; sets
# $code (the HTTP status) and $body.
api() {
    curl -s --max-time 30 --unix-socket "$S" -X "$1" -w '\n%{http_code}' ${3:+-d "$3"} \
        "http://localhost/api/v1/$2" > "$TMP/resp" 2>/dev/null
    code=$(tail -n1 "$TMP/resp")
    body=$(sed '$d' "$TMP/resp")
}
# wait_for FILE ERE: until a line of FILE matches (at most ~30 s).
wait_for() { for _ in $(seq 1500); do grep -Eq -- "$2" "$1" 2>/dev/null && return 0; sleep 0.02; done; return 1; }
# check NAME CONDITION...: ok, or not ok with the last answer and $TMP/err.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else echo "#   code ${code:-} body ${body:-}"; not_ok "$name" "$TMP/err"; fi
}

# disk_pattern_ok FILE: the virtio test guest's writes are in FILE (an 8
# MiB disk): its pattern from 1 MiB to 5 MiB, zeroes written at 6 MiB and
# discarded at 7 MiB.
disk_pattern_ok() {
    python3 - "$1" <<'EOF'
import struct, sys
MIB = 1 << 20
d = open(sys.argv[1], 'rb').read()
want = struct.pack('<%dQ' % (4 * MIB // 8), *((0x6b766d62 << 32) | o for o in range(MIB, 5 * MIB, 8)))
ok = d[MIB:5 * MIB] == want
ok &= d[6 * MIB:6 * MIB + 65536] == bytes(65536)
ok &= d[7 * MIB:7 * MIB + 65536] == bytes(65536)
sys.exit(0 if ok and len(d) == 8 * MIB else 1)
EOF
}
