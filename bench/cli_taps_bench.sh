#!/usr/bin/env bash
# `desfirectl taps parse` end to end on a file of valid AES-CMAC records (every record a new
# card/time/terminal): binary and hex in, JSON lines, CSV and table out to a file. Measured in the
# same run as the references: the simple loop ../shared/bench/ceiling_taps.cc (compiled here
# from the shared directory, never copied into the project; its CMAC figure is the reference)
# and the seed Python parser ../shared/seeds/seed_tap_parser.py.
#
#   bench/cli_taps_bench.sh                  # 1,000,000 records, best of 3
#   RECORDS=200000 REPS=5 bench/cli_taps_bench.sh
#
# Environment: BUILD_DIR (default build/, must hold desfirectl), DESFIRED_SHARED_DIR (default
# ../shared beside the repository), WORK_DIR (generated inputs, default $BUILD_DIR/bench-taps,
# kept for the next run), OUT_DIR (where the output file goes: default /dev/shm when there is
# one, so that the figure is the program's and not the disk's writeback; OUT_DIR=$WORK_DIR for
# the disk).
#
# Each case: the best wall time of REPS runs, as records/s and as a ratio to the loop's CMAC
# figure; and the CPU time (user + system) of that run as records per CPU second, which a
# loaded machine disturbs less than the wall time.
# Needs python3 with `cryptography` (to write the records), g++ and OpenSSL (the loop).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
SHARED_DIR=${DESFIRED_SHARED_DIR:-$top/../shared}
WORK_DIR=${WORK_DIR:-$BUILD_DIR/bench-taps}
RECORDS=${RECORDS:-1000000}
REPS=${REPS:-3}
KEY=2b7e151628aed2a6abf7158809cf4f3c
OUT_DIR=${OUT_DIR:-$( [ -d /dev/shm ] && echo /dev/shm || echo "$WORK_DIR")}
desfirectl=$BUILD_DIR/client/desfirectl
[ -x "$desfirectl" ] || { echo "no $desfirectl: build desfirectl first" >&2; exit 1; }
mkdir -p "$WORK_DIR"

echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

# The records: binary and the same as hex lines.
bin=$WORK_DIR/taps-$RECORDS.bin
hex=$WORK_DIR/taps-$RECORDS.hex
if [ ! -s "$bin" ] || [ ! -s "$hex" ]; then
  echo "writing $RECORDS records to $bin and $hex"
  PYTHONPATH=$top/sim/images python3 - "$RECORDS" "$KEY" "$bin" "$hex" <<'EOF'
import struct, sys
from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.ciphers import algorithms
from make_transit import crc8  # CRC-8/SMBUS of the record format
n, key, bin_path, hex_path = int(sys.argv[1]), bytes.fromhex(sys.argv[2]), sys.argv[3], sys.argv[4]
table = [crc8(bytes([i])) for i in range(256)]
with open(bin_path, "wb") as b, open(hex_path, "w") as h:
    for i in range(n):
        uid = bytes([0x04, 0x11, 0x22, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF, 0x33, 0x80])
        body = (bytes([1 + i % 3]) + struct.pack("<I", 1700000000 + i) +
                struct.pack("<I", 0x1000 + i % 50)[:3] + struct.pack("<H", i % 20) +
                bytes([i % 8]) + uid)
        c = CMAC(algorithms.AES(key)); c.update(body); mac = c.finalize()[:8]
        crc = 0
        for x in body + mac:
            crc = table[crc ^ x]
        rec = body + mac + bytes([crc]) + b"\xff" * 4
        b.write(rec)
        h.write(rec.hex() + "\n")
EOF
fi

# The loop, from the shared directory.
loop_src=$SHARED_DIR/bench/ceiling_taps.cc
loop_cmac=""
if [ -f "$loop_src" ]; then
  g++ -O2 -march=native "$loop_src" -lcrypto -o "$WORK_DIR/ceiling_taps"
  loop_out=$("$WORK_DIR/ceiling_taps")
  echo "loop: $loop_out"
  loop_cmac=$(sed -n 's/.*cmac(2 EVP ecb calls): \([0-9.]*\) M rec\/s.*/\1/p' <<<"$loop_out")
else
  echo "THE LOOP IS MISSING: no $loop_src (set DESFIRED_SHARED_DIR); no ratios" >&2
fi

# Best wall time of REPS runs of `desfirectl taps parse ARGS`, output to a file in OUT_DIR;
# sets secs, cpu (user + system seconds) and rss (peak KiB) of the best run.
out=$OUT_DIR/desfired-cli-taps-bench.out
best() {
  secs="" cpu="" rss=""
  for _ in $(seq "$REPS"); do
    local t0 t1 s m
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M %U %S' -o "$WORK_DIR/time" "$desfirectl" taps parse --mac-key "$KEY" \
      --no-summary --no-progress "$@" >"$out"
    t1=$(date +%s.%N)
    s=$(echo "$t1 - $t0" | bc -l)
    read -r m u k < <(tail -n 1 "$WORK_DIR/time")
    if [ -z "$secs" ] || [ "$(echo "$s < $secs" | bc -l)" = 1 ]; then
      secs=$s rss=$m cpu=$(echo "$u + $k" | bc -l)
    fi
  done
  rm -f "$out"
}

echo "output to $OUT_DIR; best of $REPS runs"
printf '%-20s %8s %7s %7s %4s %10s %7s\n' case "M rec/s" "x loop" target met "M rec/cpu-s" RSS_MB
declare -A rate
run_case() {  # name target args...
  local name=$1 target=$2
  shift 2
  best "$@"
  local r ratio="-" met="-" per_cpu
  r=$(echo "$RECORDS / $secs / 1000000" | bc -l)
  per_cpu=$(echo "$RECORDS / ($cpu + 0.001) / 1000000" | bc -l)
  rate[$name]=$r
  if [ -n "$loop_cmac" ]; then
    ratio=$(printf '%.3f' "$(echo "$r / $loop_cmac" | bc -l)")
    if [ "$target" != "-" ]; then
      met=$([ "$(echo "$ratio >= $target" | bc -l)" = 1 ] && echo yes || echo NO)
    fi
  fi
  printf '%-20s %8.2f %7s %7s %4s %10.2f %7d\n' "$name" "$r" "$ratio" "$target" "$met" \
    "$per_cpu" $((rss / 1024))
}
run_case "json, binary in" 0.15 --format bin --json "$bin"
run_case "csv, binary in" 0.3 --format bin --csv "$bin"
run_case "table, binary in" - --format bin --table "$bin"
run_case "json, hex in" - --format hex --json "$hex"
run_case "csv, hex in" - --format hex --csv "$hex"
for f in json csv; do
  hr=$(echo "${rate["$f, hex in"]} / ${rate["$f, binary in"]}" | bc -l)
  printf 'hex in / binary in, %s: %.2f (target >= 0.70: %s)\n' "$f" "$hr" \
    "$([ "$(echo "$hr >= 0.7" | bc -l)" = 1 ] && echo met || echo NOT met)"
done

seed=$SHARED_DIR/seeds/seed_tap_parser.py
if [ -f "$seed" ]; then
  seed_out=$(cd "$SHARED_DIR" && python3 seeds/seed_tap_parser.py 200000)
  echo "seed: $seed_out"
  seed_rate=$(sed -n 's/.*= \([0-9,]*\) records\/s.*/\1/p' <<<"$seed_out" | tr -d ,)
  printf 'json, binary in / seed parser: %.0fx\n' \
    "$(echo "${rate["json, binary in"]} * 1000000 / $seed_rate" | bc -l)"
else
  echo "THE SEED PARSER IS MISSING: no $seed (set DESFIRED_SHARED_DIR)" >&2
fi
