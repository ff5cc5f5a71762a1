#!/usr/bin/env bash
# POST /v1/taps:parse of the HTTP API against TapService.ParseTapStream over gRPC (issue 17's
# target: the HTTP rate at least 50 % of the gRPC one), on one desfired, the same file of
# synthetic binary records (bench/make_taps.cc), interleaved rounds:
#   - gRPC (the reference): desfirectl taps parse --server --format bin --json (BASIC view,
#     proto3 JSON lines of TapResult) to /dev/null;
#   - HTTP: curl --data-binary to /v1/taps:parse?view=basic (proto3 JSON lines) to /dev/null.
# No pcscd is needed (TapService does not use it).
#
#   bench/http_taps_bench.sh [RECORDS]     (default 1000000)
#   env: BUILD_DIR, ROUNDS (default 3)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
records=${1:-1000000}
rounds=${ROUNDS:-3}
desfired=$BUILD_DIR/server/desfired
ctl=$BUILD_DIR/client/desfirectl
make_taps=$BUILD_DIR/bench/make_taps
for f in "$desfired" "$ctl" "$make_taps"; do
  if [ ! -x "$f" ]; then
    echo "http_taps_bench: build first: cmake --build $BUILD_DIR --target desfired desfirectl make_taps" >&2
    exit 2
  fi
done
command -v curl >/dev/null || { echo "http_taps_bench: curl is missing" >&2; exit 2; }
. "$top/bench/desfired_http.sh"
bench_scratch
"$make_taps" "$records" bin "$tmp/taps.bin"
# The key make_taps signs with, as the server's tap key.
umask 077
printf 'key tap AES128 2b7e151628aed2a6abf7158809cf4f3c use=none\ntap static key=tap\n' \
  >"$tmp/keys.conf"
start_desfired_http "$desfired" --keys "$tmp/keys.conf" --max_tap_calls_per_caller 16
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); $records records"
now() { date +%s.%N; }
rate() { awk -v n="$records" -v s="$1" -v e="$2" 'BEGIN { printf "%.0f", n / (e - s) }'; }
grpc_rates=()
http_rates=()
for r in $(seq "$rounds"); do
  s=$(now)
  "$ctl" taps parse --server "127.0.0.1:$port" --format bin --json --no-summary \
    "$tmp/taps.bin" >"$tmp/grpc.out"
  e=$(now)
  grpc_rates+=("$(rate "$s" "$e")")
  s=$(now)
  curl -sS --fail-with-body -H 'Content-Type: application/octet-stream' \
    --data-binary @"$tmp/taps.bin" "http://127.0.0.1:$http_port/v1/taps:parse?view=basic" \
    -o "$tmp/http.out"
  e=$(now)
  http_rates+=("$(rate "$s" "$e")")
  echo "round $r: gRPC ${grpc_rates[-1]} records/s, HTTP ${http_rates[-1]} records/s" \
    "(load $(cut -d' ' -f1 /proc/loadavg))"
done
lines_grpc=$(wc -l <"$tmp/grpc.out")
lines_http=$(wc -l <"$tmp/http.out")
echo "lines: gRPC $lines_grpc, HTTP $lines_http (one per record, HTTP + 1 summary line)"
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
g=$(median "${grpc_rates[@]}")
h=$(median "${http_rates[@]}")
awk -v g="$g" -v h="$h" 'BEGIN {
  printf "median: gRPC %d records/s, HTTP %d records/s, ratio HTTP/gRPC %.2f (target >= 0.50: %s)\n",
         g, h, h / g, (h / g >= 0.5 ? "met" : "NOT met") }'
