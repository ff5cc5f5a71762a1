#!/usr/bin/env bash
# EV3 host-side benchmarks with their references in the same run (bench/results/ev3.md):
#   - originality: build/bench/ev3_bench's VerifyOriginality vs a raw OpenSSL P-224 verify;
#   - SUN: ev3_bench's SUN messages/s vs the shared simple loop ../shared/bench/ceiling_taps.cc
#     (AES-CMAC per 32-byte record, compiled here from the shared directory, never copied in).
#
#   bench/ev3_bench.sh            (BUILD_DIR, default build/; DESFIRED_SHARED_DIR, default
#                                  ../shared next to the repository)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
SHARED_DIR=${DESFIRED_SHARED_DIR:-$top/../shared}
WORK_DIR=$(mktemp -d)
trap 'rm -rf "$WORK_DIR"' EXIT

cmake --build "$BUILD_DIR" --target ev3_bench >/dev/null
echo "load: $(uptime)"
json=$WORK_DIR/ev3.json
"$BUILD_DIR/bench/ev3_bench" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_out="$json" --benchmark_out_format=json
median() {  # name field
  python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
for b in d["benchmarks"]:
    if b["name"]==sys.argv[2]+"/process_time/real_time_median":
        print(b[sys.argv[3]])' "$json" "$1" "$2"
}
ref=$(median BM_RawOpenSslEcdsaP224Verify cpu_time)
gen=$(median BM_VerifyOriginalityGenuine cpu_time)
worst=$(median BM_VerifyOriginalityForgedLight cpu_time)
python3 - "$ref" "$gen" "$worst" <<'PY'
import sys
ref, gen, worst = (float(x) / 1000 for x in sys.argv[1:])  # ns -> us
print(f"originality: raw OpenSSL verify {ref:.1f} us CPU; VerifyOriginality genuine "
      f"{gen:.1f} us ({gen/ref:.2f}x), forged DESFire Light (3 keys) {worst:.1f} us "
      f"({worst/ref:.2f}x); target <= 200 us: {'met' if worst <= 200 else 'NOT met'}")
PY
# SUN rates per core from the CPU time (ns per iteration; a batch iteration verifies "batch"
# messages): messages per CPU second.
aes_one=$(median BM_SunAes cpu_time)
lrp_one=$(median BM_SunLrp cpu_time)
aes_batch=$(median BM_SunAesBatch cpu_time)
lrp_batch=$(median BM_SunLrpBatch cpu_time)
batch=$(median BM_SunAesBatch batch)
rates=$(python3 - "$aes_one" "$lrp_one" "$aes_batch" "$lrp_batch" "$batch" <<'PY'
import sys
a1, l1, ab, lb, n = (float(x) for x in sys.argv[1:])
print(1e9 / a1, 1e9 / l1, n * 1e9 / ab, n * 1e9 / lb)
PY
)
read -r aes_one_rate lrp_one_rate aes lrp <<<"$rates"
echo "SUN per message (unbatched): AES $(printf %.0f "$aes_one_rate") msg/s, LRP" \
  "$(printf %.0f "$lrp_one_rate") msg/s per core (CPU time)"
loop_src=$SHARED_DIR/bench/ceiling_taps.cc
if [ -f "$loop_src" ]; then
  g++ -O2 -march=native "$loop_src" -lcrypto -o "$WORK_DIR/ceiling_taps"
  loop_out=$("$WORK_DIR/ceiling_taps")
  echo "loop: $loop_out"
  loop_cmac=$(sed -n 's/.*cmac(2 EVP ecb calls): \([0-9.]*\) M rec\/s.*/\1/p' <<<"$loop_out")
  python3 - "$aes" "$lrp" "$loop_cmac" <<'PY'
import sys
aes, lrp, loop = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]) * 1e6
print(f"SUN batched (VerifyMany, per core, CPU time): AES {aes/1e3:.1f} k msg/s "
      f"({aes/loop:.3f} of the loop's {loop/1e6:.1f} M CMAC/s; "
      f"target 1 M/s: {'met' if aes >= 1e6 else 'NOT met'}), LRP {lrp/1e3:.1f} k msg/s "
      f"({lrp/loop:.4f} of the loop; target 200 k/s: {'met' if lrp >= 2e5 else 'NOT met'})")
PY
else
  echo "THE LOOP IS MISSING: no $loop_src (set DESFIRED_SHARED_DIR); SUN without a ratio" >&2
  echo "SUN batched: AES $aes msg/s, LRP $lrp msg/s per core (no reference)"
fi
