#!/usr/bin/env bash
# Core tap parsing against the simple loop of the shared reference, in one run:
# ../shared/bench/ceiling_taps.cc (table CRC8; AES-CMAC with cached subkeys, 2 ECB calls per
# record) is compiled here from the shared directory (never copied into the project) and run
# alternately with bench/tap_parse_bench; the ratios are taken per round, the median reported.
#
#   bench/tap_core_vs_loop.sh [ROUNDS]        (default 3; BUILD_DIR, DESFIRED_SHARED_DIR)
#   CHART=docs/images/tap-rates.svg bench/tap_core_vs_loop.sh   # also draw records/s by stage
#   TOKEN=1 bench/tap_core_vs_loop.sh   # also the tap MACs with the keys in a SoftHSM2 token
#                                       # (bench/pkcs11_tap_bench; bench/results/pkcs11.md)
#
# Targets (issue 21): AES-CMAC parse >= 1.5x the loop's CMAC, CRC only >= 1.0x the loop's CRC,
# the pipeline (every record a new dedup key) >= 0.5x the loop's CMAC.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
SHARED=${DESFIRED_SHARED_DIR:-$top/../shared}
rounds=${1:-3}
loop_src=$SHARED/bench/ceiling_taps.cc
if [ ! -f "$loop_src" ]; then
  echo "tap_core_vs_loop: the reference loop is missing: $loop_src" >&2
  echo "  (set DESFIRED_SHARED_DIR to the shared directory that holds bench/ceiling_taps.cc)" >&2
  exit 2
fi
bench=$BUILD_DIR/bench/tap_parse_bench
if [ "${TOKEN:-0}" = 1 ] && [ ! -x "$BUILD_DIR/bench/pkcs11_tap_bench" ]; then
  echo "tap_core_vs_loop: build it first: cmake --build $BUILD_DIR --target pkcs11_tap_bench" >&2
  exit 2
fi
if [ ! -x "$bench" ]; then
  echo "tap_core_vs_loop: build it first: cmake --build $BUILD_DIR --target tap_parse_bench" >&2
  exit 2
fi
loop=$BUILD_DIR/bench/ceiling_taps
g++ -O2 -march=native "$loop_src" -lcrypto -o "$loop"
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
filter='BM_ParseCrcOnly$|BM_ParseAesCmacStaticKey$|BM_ParseBatch|BM_PipelineBatchEveryRecordNew|BM_PipelineAesCmacDedupClock'
for r in $(seq 1 "$rounds"); do
  "$loop" >"$tmp/loop$r.txt"
  "$bench" --benchmark_filter="$filter" --benchmark_min_time=0.5 --benchmark_format=json \
    >"$tmp/core$r.json" 2>/dev/null
  if [ "${TOKEN:-0}" = 1 ]; then
    "$BUILD_DIR/bench/pkcs11_tap_bench" --benchmark_filter='Static|Recurring' \
      --benchmark_min_time=0.5 --benchmark_out="$tmp/token$r.json" --benchmark_out_format=json \
      >/dev/null 2>&1
  fi
done
python3 - "$tmp" "$rounds" <<'PY'
import json, os, re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
rows = [("CRC only (batched parse)", "BM_ParseBatchCrcOnly", "crc", 1.0),
        ("CRC only (one record per call)", "BM_ParseCrcOnly", "crc", None),
        ("AES-CMAC static key (batched parse)", "BM_ParseBatchAesCmacStaticKey", "cmac", 1.5),
        ("AES-CMAC static key (one record per call)", "BM_ParseAesCmacStaticKey", "cmac", None),
        ("AN10922 recurring cards (batched)", "BM_ParseBatchAn10922RecurringCards", "cmac", None),
        ("AN10922 every card new (batched)", "BM_ParseBatchAn10922EveryCardNew", "cmac", None),
        ("pipeline, every record a new dedup key (batched)", "BM_PipelineBatchEveryRecordNew",
         "cmac", 0.5)]
token = os.path.exists(f"{tmp}/token1.json")
if token:  # bench/pkcs11_tap_bench: the same batched parse, keys in the file / in SoftHSM2
    rows += [("token bench: AES-CMAC static file key (batched)", "BM_StaticFile", "cmac", None),
             ("AES-CMAC static key in SoftHSM2 (batched)", "BM_StaticToken", "cmac", None),
             ("token bench: AN10922 recurring, master in the file", "BM_CardRecurringFile",
              "cmac", None),
             ("AN10922 recurring cards, master in SoftHSM2", "BM_CardRecurringToken", "cmac",
              None)]
data = {}
for r in range(1, rounds + 1):
    m = re.search(r"crc8 table: ([\d.]+) M rec/s; cmac\(2 EVP ecb calls\): ([\d.]+) M",
                  open(f"{tmp}/loop{r}.txt").read())
    loop = {"crc": float(m.group(1)), "cmac": float(m.group(2))}
    # Wall-clock rates, as the loop measures them: items/s (per CPU second) * CPU / real time.
    core = {b["name"]: b["items_per_second"] * b["cpu_time"] / b["real_time"] / 1e6
            for b in json.load(open(f"{tmp}/core{r}.json"))["benchmarks"]}
    if token:  # measured in real time already (UseRealTime)
        core.update({b["name"].replace("/real_time", ""): b["items_per_second"] / 1e6
                     for b in json.load(open(f"{tmp}/token{r}.json"))["benchmarks"]})
    for _, name, ref, _ in rows:
        data.setdefault(name, []).append((core[name], loop[ref], core[name] / loop[ref]))
print(f"| stage | loop (M rec/s) | core (M rec/s) | ratio (median of {rounds}) | target | met |")
print("|---|---|---|---|---|---|")
for label, name, ref, target in rows:
    runs = data[name]
    ratio = statistics.median(x[2] for x in runs)
    core = statistics.median(x[0] for x in runs)
    loop = statistics.median(x[1] for x in runs)
    t = f">= {target}x" if target else "-"
    met = ("yes" if ratio >= target else "NO") if target else "-"
    print(f"| {label} | {loop:.1f} ({ref}) | {core:.1f} | {ratio:.2f}x | {t} | {met} |")
# The medians as benchmark JSON for bench/plot_rates.py: the loop's two stages, then core's.
loops = {ref: statistics.median(x[1] for _, n, r, _ in rows if r == ref for x in data[n])
         for ref in ("crc", "cmac")}
chart = [{"name": "loop: CRC8 (reference)", "items_per_second": loops["crc"] * 1e6},
         {"name": "loop: AES-CMAC (reference)", "items_per_second": loops["cmac"] * 1e6}]
chart += [{"name": label, "items_per_second": statistics.median(x[0] for x in data[name]) * 1e6}
          for label, name, _, _ in rows]
json.dump({"benchmarks": chart}, open(f"{tmp}/chart.json", "w"))
PY
if [ -n "${CHART:-}" ]; then
  python3 "$top/bench/plot_rates.py" --out "$CHART" --reference "loop: AES-CMAC (reference)" \
    --title "Tap records/s by stage, one core, medians of $rounds rounds (ratios: to the loop's AES-CMAC)" \
    "$tmp/chart.json"
  echo "chart: $CHART"
fi
