#!/usr/bin/env bash
# bench/smp: how long until all N vCPUs of a guest have reported in, under
# kvmbox and under QEMU (-M microvm), booting the same SMP test guest (the
# BSP starts every AP with INIT-SIPI-SIPI, each AP reports in, then the guest
# leaves through the debug-exit port, which both VMMs have); wall time from
# exec to exit, median of RUNS, for N = 1, 8, 32; and the peak RSS each VMM
# needs per extra vCPU (RSS at N=32 minus at N=1, over 31).
#   bench/smp.sh [RUNS]     (BUILD, GUEST_BUILD as for make)
set -uo pipefail
runs=${1:-5}
kvmbox=${BUILD:-build}/kvmbox
guest=${GUEST_BUILD:-build/guest}/boot-pvh.elf
qemu=$(command -v qemu-system-x86_64 || true)

# one_run N VMM: prints "milliseconds peak-RSS-KiB"
one_run() {
    local n=$1 vmm=$2 t0 t1
    local cmdline="smp expect_cpus=$n"
    t0=$(date +%s%N)
    if [ "$vmm" = kvmbox ]; then
        /usr/bin/time -f %M -o /tmp/smp-rss "$kvmbox" run --kernel "$guest" --cpus "$n" \
            --memory 512M --debug-exit --cmdline "$cmdline" > /tmp/smp-out 2>&1 < /dev/null
    else
        /usr/bin/time -f %M -o /tmp/smp-rss "$qemu" -M microvm -enable-kvm \
            -cpu max,-arch-capabilities -smp "$n" -m 512M -nodefaults -no-user-config \
            -display none -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4 \
            -kernel "$guest" -append "$cmdline" > /tmp/smp-out 2>&1 < /dev/null
    fi
    t1=$(date +%s%N)
    grep -q "smp: $((n - 1)) of $((n - 1)) APs arrived" /tmp/smp-out || { echo "fail 0"; return; }
    echo "$(( (t1 - t0) / 1000000 )) $(tail -1 /tmp/smp-rss)"
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

measure() {  # N VMM -> "ms rss"
    local i out times="" rss=0
    for i in $(seq "$runs"); do
        out=$(one_run "$1" "$2")
        [ "${out%% *}" = fail ] && { echo "fail 0"; return; }
        times="$times ${out%% *}"
        rss=${out##* }
    done
    echo "$(echo $times | tr ' ' '\n' | median) $rss"
}

echo "smp: exec to exit after all N vCPUs reported in, median of $runs runs"
printf "  %-6s %12s %12s %10s\n" N kvmbox qemu ratio
declare -A krss qrss
for n in 1 8 32; do
    read -r km kr < <(measure "$n" kvmbox)
    qm=fail qr=0
    [ -n "$qemu" ] && read -r qm qr < <(measure "$n" qemu)
    krss[$n]=$kr qrss[$n]=$qr
    ratio=$(awk -v k="$km" -v q="$qm" 'BEGIN { if (q + 0 > 0 && k + 0 > 0) printf "%.3f", k / q; else print "-" }')
    printf "  %-6s %9s ms %9s ms %10s\n" "$n" "$km" "$qm" "$ratio"
done
awk -v k1="${krss[1]}" -v k32="${krss[32]}" -v q1="${qrss[1]}" -v q32="${qrss[32]}" 'BEGIN {
    printf "peak RSS per extra vCPU (N=32 vs N=1): kvmbox %.0f KiB", (k32 - k1) / 31
    if (q32 > 0) printf ", qemu %.0f KiB", (q32 - q1) / 31
    printf "\n"
}'
