#!/usr/bin/env bash
# Who may drive the VM (docs/security.md): the API socket is made 0600,
# and whatever its mode becomes, kvmbox serves only root and its own user
# (SO_PEERCRED); another user's request is answered 403 with the reason,
# and kvmbox logs it.
. "$(dirname "$0")/lib.sh"

NAMES=("api peer: the socket is created mode 0600"
       "api peer: another user's request is refused (403 naming the user, a log line); root's is served")
api_tests_need_curl
if ! command -v setpriv > /dev/null || [ "$(id -u)" != 0 ]; then
    for n in "${NAMES[@]}"; do skip "$n" "needs root and setpriv"; done
    exit 0
fi

S=$TMP/api.sock
chmod 755 "$TMP"
timeout -k 5 "$LIMIT" "$KVMBOX" run --api-socket "$S" > "$TMP/out" 2> "$TMP/err" < /dev/null &
pid=$!
for _ in $(seq 250); do [ -S "$S" ] && break; sleep 0.02; done
mode=$(stat -c %a "$S")
[ "$mode" = 600 ] && ok "${NAMES[0]}" || { echo "#   mode $mode"; not_ok "${NAMES[0]}"; }

chmod 666 "$S"
other=$(setpriv --reuid=65534 --regid=65534 --clear-groups \
    curl -s --max-time 10 --unix-socket "$S" -w ' %{http_code}' http://localhost/api/v1/vmm.ping)
api GET vmm.ping
mine=$code
api PUT vmm.shutdown
wait "$pid"
if [[ $other == *"user 65534 may not drive this VM"*" 403" ]] && [ "$mine" = 200 ] &&
   grep -q "API: a client refused.*user 65534" "$TMP/err"; then
    ok "${NAMES[1]}"
else
    echo "#   other: $other; root: $mine"
    not_ok "${NAMES[1]}" "$TMP/err"
fi
