#!/usr/bin/env bash
# bench/blk: virtio-blk request throughput next to the raw file. The
# device is driven by bench/blk_harness (a guest's driver without a guest:
# virtqueues in guest memory, kicks through the notify register), and fio
# reads the same file with the same engine settings in the same run.
# Both use O_DIRECT, so the page cache is out of the picture and the ratio
# is the device's own cost. Prints a table; the target is >= 90%.
#   BLK_FILE (a file to create, build/bench/blk.img), BLK_SIZE (1G),
#   BLK_SECONDS (2 per run), BLK_ROUNDS (7 alternating runs, medians)
set -euo pipefail
here=$(dirname "$(realpath "$0")")
BUILD=${BUILD:-build}
harness=$BUILD/bench/blk_harness
file=${BLK_FILE:-$BUILD/bench/blk.img}
size=${BLK_SIZE:-1G}
secs=${BLK_SECONDS:-2}
rounds=${BLK_ROUNDS:-7}
command -v fio > /dev/null || { echo "bench/blk: fio is not installed (make deps)"; exit 1; }
if [ ! -f "$file" ] || [ "$(stat -c %s "$file")" -ne "$(numfmt --from=iec "$size")" ]; then
    echo "# writing $size of random data to $file"
    head -c "$size" /dev/urandom > "$file"
fi

fio_run() {  # rw bs qd -> "IOPS MB/s"
    fio --name=raw --filename="$file" --rw="$1" --bs="$2" --iodepth="$3" --direct=1 \
        --ioengine=io_uring --runtime="$secs" --time_based --output-format=json 2>/dev/null |
        python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]["read"]; print("%.0f %.1f" % (j["iops"], j["bw_bytes"]/1e6))'
}

echo "# $(uname -r), $(nproc) CPUs; file $file ($size), O_DIRECT; medians of $rounds alternating ${secs} s runs"
printf '%-16s %4s %12s %10s %12s %10s %7s\n' workload QD "kvmbox IOPS" "MB/s" "fio IOPS" "MB/s" ratio
for w in "randread 4096 4K random read" "seqread 1048576 1M sequential read"; do
    set -- $w
    mode=$1 bs=$2 label="$3 $4 $5"
    fio_rw=$([ "$mode" = randread ] && echo randread || echo read)
    for qd in 1 32; do
        # This host is noisy: the two alternate, ROUNDS times, and each
        # reports its median.
        k=() f=()
        for round in $(seq "$rounds"); do
            k+=("$("$harness" "$file" "$mode" "$bs" "$qd" "$secs" direct)")
            f+=("$(fio_run "$fio_rw" "$bs" "$qd")")
        done
        read -r k_iops k_mbs < <(printf '%s\n' "${k[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")
        read -r f_iops f_mbs < <(printf '%s\n' "${f[@]}" | sort -n | sed -n "$(( (rounds + 1) / 2 ))p")
        ratio=$(python3 -c "print('%.0f%%' % (100 * $k_iops / $f_iops))")
        printf '%-16s %4s %12s %10s %12s %10s %7s\n' "$label" "$qd" "$k_iops" "$k_mbs" \
            "$f_iops" "$f_mbs" "$ratio"
    done
done
