#!/usr/bin/env bash
# desfirectl taps parse end to end on synthetic files (bench/make_taps.cc: valid AES-CMAC
# records with duplicates, clock jumps, bad MACs and bad types mixed in), beside the simple
# loop of the shared reference (../shared/bench/ceiling_taps.cc, compiled here, never copied
# in), in one run:
#   - records/s for 1 thread and N threads (--threads), binary and hex in, CSV out to a file;
#   - that 1 and N threads print the same bytes;
#   - the peak RSS (/usr/bin/time -v) of a 10 M-record binary file (target: under 64 MB).
#
#   bench/taps_cli_bench.sh [RECORDS] [BIG_RECORDS]   (defaults 1000000 10000000)
#   env: BUILD_DIR, DESFIRED_SHARED_DIR, THREADS (default: the cores), ROUNDS (default 3),
#        DESFIRECTL and MAKE_TAPS (default: the build's)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
SHARED=${DESFIRED_SHARED_DIR:-$top/../shared}
records=${1:-1000000}
big=${2:-10000000}
threads=${THREADS:-$(nproc)}
rounds=${ROUNDS:-3}
ctl=${DESFIRECTL:-$BUILD_DIR/client/desfirectl}
make_taps=${MAKE_TAPS:-$BUILD_DIR/bench/make_taps}
for f in "$ctl" "$make_taps"; do
  if [ ! -x "$f" ]; then
    echo "taps_cli_bench: build first: cmake --build $BUILD_DIR --target desfirectl make_taps" >&2
    exit 2
  fi
done
loop_src=$SHARED/bench/ceiling_taps.cc
if [ ! -f "$loop_src" ]; then
  echo "taps_cli_bench: the reference loop is missing: $loop_src (set DESFIRED_SHARED_DIR)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
g++ -O2 -march=native "$loop_src" -lcrypto -o "$tmp/ceiling_taps"
"$make_taps" "$records" bin "$tmp/taps.bin"
"$make_taps" "$records" hex "$tmp/taps.hex"
key=2b7e151628aed2a6abf7158809cf4f3c
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); $records records"

# run NAME FORMAT THREADS: prints "NAME seconds M-records/s"
run() {
  local t0 t1
  t0=$(date +%s.%N)
  "$ctl" taps parse --mac-key "$key" --format "$2" --csv --no-summary --threads "$3" \
    "$tmp/taps.$2" >"$tmp/out.$2.$3"
  t1=$(date +%s.%N)
  python3 -c "import sys; s=$t1-$t0; print(f'$1 {s:.3f} s {$records/s/1e6:.2f} M rec/s')"
}
for r in $(seq 1 "$rounds"); do
  echo "-- round $r"
  "$tmp/ceiling_taps" | head -1
  run "bin  1 thread " bin 1
  run "bin  $threads threads" bin "$threads"
  run "hex  1 thread " hex 1
  run "hex  $threads threads" hex "$threads"
done
cmp "$tmp/out.bin.1" "$tmp/out.bin.$threads" && cmp "$tmp/out.hex.1" "$tmp/out.hex.$threads" &&
  cmp "$tmp/out.bin.1" "$tmp/out.hex.1" && echo "1 and $threads threads, bin and hex: same output"
rm -f "$tmp"/out.* "$tmp/taps.hex"

"$make_taps" "$big" bin "$tmp/taps.bin"
echo "-- $big records, binary, CSV to /dev/null, default threads"
/usr/bin/time -v "$ctl" taps parse --mac-key "$key" --format bin --csv --no-summary \
  "$tmp/taps.bin" 2>"$tmp/time.txt" >/dev/null
grep -E "Maximum resident set size|Elapsed \(wall clock\)" "$tmp/time.txt"
