#!/usr/bin/env bash
# bench/lab-boot: the stock Debian kernel under kvmbox and under QEMU
# (-M microvm, its fastest machine), side by side inside the same lab boot
# (tests/lab): wall time from exec to the guest init's marker line, median of
# RUNS, as a ratio, and each VMM's peak RSS. Needs `make guest-linux`.
#   bench/lab-boot.sh [RUNS]
set -euo pipefail
here=$(dirname "$(realpath "$0")")
runs=${1:-3}
cat > /tmp/lab-boot-inner.sh <<IN
# ms since boot, from /proc/uptime
now() { awk '{ printf "%d", \$1 * 1000 }' /proc/uptime; }
# time_to_marker NAME COMMAND...: prints one line of figures
time_to_marker() {
    name=\$1; shift
    times=""
    for i in \$(seq $runs); do
        t0=\$(now)
        "\$@" > /tmp/out 2>&1 < /dev/null &
        pid=\$!
        for j in \$(seq 3000); do grep -q KVMBOX-GUEST-READY /tmp/out && break; sleep 0.01; done
        t1=\$(now)
        rss=\$(grep VmHWM /proc/\$pid/status | awk '{print \$2}')
        kill -9 \$pid 2>/dev/null; wait \$pid 2>/dev/null
        grep -q KVMBOX-GUEST-READY /tmp/out || { echo "\$name: the guest did not reach init"; return; }
        times="\$times \$((t1 - t0))"
    done
    med=\$(echo \$times | tr ' ' '\n' | sort -n | awk '{ a[NR] = \$1 } END { print a[int((NR + 1) / 2)] }')
    echo "\$name \$med \$rss"
}
time_to_marker kvmbox ./kvmbox run --kernel vmlinuz --initrd guest-initrd.gz --memory 256M
time_to_marker qemu qemu-system-x86_64 -M microvm -enable-kvm -cpu host -m 256M -nodefaults \
    -no-user-config -display none -serial stdio -kernel vmlinuz -initrd guest-initrd.gz \
    -append "console=ttyS0 reboot=k panic=-1"
IN
out=$("$here/../tests/lab/lab.sh" run -q -t 1200 -f /tmp/lab-boot-inner.sh "sh lab-boot-inner.sh")
echo "lab-boot: stock Debian kernel to its init marker inside the lab, median of $runs runs"
echo "$out" | awk '
    $1 == "kvmbox" { k = $2; kr = $3 } $1 == "qemu" { q = $2; qr = $3 }
    /did not/ { print "  " $0 }
    END {
        if (k) printf "  %-22s %8d ms   peak RSS %6.1f MiB\n", "kvmbox", k, kr / 1024
        if (q) printf "  %-22s %8d ms   peak RSS %6.1f MiB\n", "qemu -M microvm", q, qr / 1024
        if (k && q) printf "  kvmbox takes %.2f of QEMU'"'"'s time and %.3f of its memory\n", k / q, kr / qr
    }'
