#!/usr/bin/env bash
# Runs the unit test binaries given as arguments (cmocka, TAP output) and the
# integration scripts in tests/integration, and ends with the summary line
# "N passed, N failed, N skipped". Exit status: 0 if nothing failed.
#   BUILD, GUEST_BUILD: where kvmbox and the test guests are
#   ONLY=unit|integration|lab|fuzz: run one part (fuzz only when asked:
#   make fuzz-smoke); LAB=0: leave the lab out
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build} GUEST_BUILD=${GUEST_BUILD:-build/guest}
passed=0 failed=0 skipped=0
failures=()

count() {  # reads "ok - x" / "not ok - x" / "skip - x" lines, echoing them
    local suite=$1 line
    while IFS= read -r line; do
        case "$line" in
            "ok "*) passed=$((passed + 1)) ;;
            "not ok "*) failed=$((failed + 1)); failures+=("$suite: ${line#not ok }") ;;
            "skip "*) skipped=$((skipped + 1)) ;;
        esac
        printf '%s\n' "$line"
    done
}

# run_script NAME SCRIPT: a test script's lines, streamed as they come. A
# script that dies (a syntax error, a crash of its shell) before it could
# report is a failure, not silence.
run_script() {
    local status_file rc before=$failed
    status_file=$(mktemp)
    count "$1" < <(bash "$2" 2>&1; echo $? > "$status_file")
    rc=$(cat "$status_file"); rm -f "$status_file"
    if [ "$rc" != 0 ] && [ "$failed" -eq "$before" ]; then
        count "$1" <<< "not ok - $1 exited with status $rc"
    fi
}

if [ "${ONLY:-unit}" = unit ]; then
    for bin in "$@"; do
        name=$(basename "$bin")
        echo "# unit: $name"
        out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$bin" 2>&1)
        rc=$?
        # TAP from cmocka numbers its lines: "ok 1 - name".
        count "$name" < <(printf '%s\n' "$out" | sed -E 's/^(not ok|ok) [0-9]+ /\1 /' |
                          grep -E '^(ok|not ok) ')
        if [ $rc -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^not ok'; then
            # Crashed (e.g. a sanitizer report) before cmocka could say so.
            printf '%s\n' "$out" | tail -20
            count "$name" <<< "not ok - $name exited with status $rc"
        fi
    done
fi

if [ "${ONLY:-integration}" = integration ]; then
    for script in tests/integration/test_*.sh; do
        name=$(basename "$script" .sh)
        echo "# integration: $name"
        run_script "$name" "$script"
    done
fi

# The lab: on by default; LAB=0 leaves it out (it needs QEMU and Debian's
# kernel package, and takes about a minute).
if [ "${ONLY:-lab}" = lab ] && [ "${LAB:-1}" != 0 ]; then
    for script in tests/lab/test_*.sh; do
        name=$(basename "$script" .sh)
        echo "# lab: $name"
        run_script "$name" "$script"
    done
fi

# Fuzz smoke (ONLY=fuzz, make fuzz-smoke): each libFuzzer target given as
# an argument runs FUZZ_SECONDS from its seed corpus in tests/fuzz/corpus;
# a crash, leak or sanitizer report fails it and leaves the input in
# build/fuzz/findings.
if [ "${ONLY:-}" = fuzz ]; then
    mkdir -p build/fuzz/findings
    for bin in "$@"; do
        name=$(basename "$bin")
        echo "# fuzz: $name for ${FUZZ_SECONDS:-60} s"
        work=build/fuzz/work/$name
        mkdir -p "$work"
        log=build/fuzz/$name.log
        "$bin" -max_total_time="${FUZZ_SECONDS:-60}" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 -artifact_prefix="build/fuzz/findings/$name-" \
            "$work" "tests/fuzz/corpus/$name" > "$log" 2>&1
        rc=$?
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        if [ $rc -eq 0 ]; then
            count "$name" <<< "ok - fuzz: $name (${runs:-?} runs, no crash)"
        else
            grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5
            count "$name" <<< "not ok - fuzz: $name (status $rc; see $log)"
        fi
    done
fi

if [ ${#failures[@]} -gt 0 ]; then
    echo "# failed:"
    printf '#   %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
