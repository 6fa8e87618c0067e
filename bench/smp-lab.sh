#!/usr/bin/env bash
# bench/smp-lab: bench/smp.sh's measure inside the lab (tests/lab), where
# /dev/kvm has hardware semantics: wall time from exec until the SMP test
# guest's N vCPUs have all reported in and it left through the debug-exit
# port, under kvmbox and under QEMU -M microvm, median of RUNS, N = 1, 8, 32.
# The lab has two emulated CPUs, so N = 32 is mostly the lab's scheduling.
#   bench/smp-lab.sh [RUNS]     (needs make guests and make guest-linux)
set -euo pipefail
here=$(dirname "$(realpath "$0")")
runs=${1:-3}
cat > /tmp/smp-lab-inner.sh <<IN
now() { awk '{ printf "%d", \$1 * 1000 }' /proc/uptime; }
# measure VMM N: one line "VMM N median-ms", or "VMM N fail"
measure() {
    vmm=\$1 n=\$2 times=""
    for i in \$(seq $runs); do
        t0=\$(now)
        if [ \$vmm = kvmbox ]; then
            timeout 300 ./kvmbox run --kernel guest/boot-pvh.elf --cpus \$n --memory 512M \
                --debug-exit --cmdline "smp expect_cpus=\$n" > /tmp/out 2>&1 < /dev/null
        else
            timeout 300 qemu-system-x86_64 -M microvm -enable-kvm -cpu host -smp \$n -m 512M \
                -nodefaults -no-user-config -display none -serial stdio \
                -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel guest/boot-pvh.elf \
                -append "smp expect_cpus=\$n" > /tmp/out 2>&1 < /dev/null
        fi
        t1=\$(now)
        grep -q "smp: \$((n - 1)) of \$((n - 1)) APs arrived" /tmp/out || { echo "\$vmm \$n fail"; return; }
        times="\$times \$((t1 - t0))"
    done
    echo "\$vmm \$n \$(echo \$times | tr ' ' '\n' | sort -n | awk '{ a[NR] = \$1 } END { print a[int((NR + 1) / 2)] }')"
}
for n in 1 8 32; do measure kvmbox \$n; measure qemu \$n; done
IN
out=$("$here/../tests/lab/lab.sh" run -q -t 1500 -f /tmp/smp-lab-inner.sh "sh smp-lab-inner.sh")
echo "smp-lab: exec to exit after all N vCPUs reported in, inside the lab, median of $runs runs"
echo "$out" | awk '
    $1 == "kvmbox" || $1 == "qemu" { v[$1 " " $2] = $3; ns[$2] = 1 }
    END {
        printf "  %-6s %12s %12s %8s\n", "N", "kvmbox", "qemu", "ratio"
        split("1 8 32", order, " ")
        for (i = 1; i <= 3; i++) {
            n = order[i]; k = v["kvmbox " n]; q = v["qemu " n]
            r = (k + 0 > 0 && q + 0 > 0) ? sprintf("%.2f", k / q) : "-"
            printf "  %-6s %9s ms %9s ms %8s\n", n, k, q, r
        }
    }'
