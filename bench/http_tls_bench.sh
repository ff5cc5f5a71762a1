#!/usr/bin/env bash
# The HTTP API over TLS against plain HTTP (bench/results/http_tls.md). Two desfired run side
# by side, one with --tls_cert/--tls_key (a throw-away self-signed certificate made here with
# the openssl command), one without; interleaved rounds measure on each:
#   - requests: REQUESTS sequential GET /healthz from one curl process (503 NOT_SERVING without
#     pcscd: answered all the same); curl keeps its connection open between them and the API
#     keeps it alive (up to 100 requests a connection), so over TLS one handshake (ECDSA P-256)
#     serves many requests (before keep-alive, each request paid one);
#   - bulk: POST /v1/taps:parse?view=basic of RECORDS binary tap records (bench/make_taps.cc),
#     the JSON lines to /dev/null.
# The reference is plain HTTP, measured in the same run; the figures are the ratios HTTPS/HTTP.
# No pcscd is needed (neither /healthz nor TapService uses it).
#
#   bench/http_tls_bench.sh [REQUESTS [RECORDS]]     (default 500 and 1000000)
#   env: BUILD_DIR (default build), ROUNDS (default 3)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
requests=${1:-500}
records=${2:-1000000}
rounds=${ROUNDS:-3}
for tool in "$build/server/desfired" "$build/bench/make_taps"; do
  [ -x "$tool" ] || {
    echo "http_tls_bench: missing $tool; build: cmake --build $build --target desfired make_taps" >&2
    exit 2
  }
done
for cmd in curl openssl; do
  command -v "$cmd" >/dev/null || { echo "http_tls_bench: $cmd is missing" >&2; exit 2; }
done

work=$(mktemp -d)
servers=()
finish() {
  for p in "${servers[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap finish EXIT
umask 077
"$build/bench/make_taps" "$records" bin "$work/records.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$work/server.key" -out "$work/server.pem" 2>/dev/null
# make_taps signs its records with this AES key: the server's tap key.
echo 'key tap AES128 2b7e151628aed2a6abf7158809cf4f3c use=none' >"$work/keys.conf"
echo 'tap static key=tap' >>"$work/keys.conf"

# Starts desfired NAME [FLAGS...]; sets `port` to its HTTP port (not in a subshell: the
# server must stay a child of this shell, and off the output of a command substitution).
serve() {
  local name=$1
  shift
  mkdir "$work/$name"
  "$build/server/desfired" --listen 127.0.0.1:0 --http_listen 127.0.0.1:0 \
    --port_file "$work/$name/port" --data_dir "$work/$name" --keys "$work/keys.conf" \
    --pcsc_socket "$work/absent" --max_tap_calls_per_caller 16 "$@" \
    >/dev/null 2>"$work/$name/log" &
  servers+=($!)
  for _ in $(seq 100); do
    [ -s "$work/$name/port" ] && break
    sleep 0.1
  done
  port=$(grep -o '"http_port":[0-9]*' "$work/$name/log" | head -1 | cut -d: -f2)
  [ -n "$port" ] || { echo "http_tls_bench: desfired $name did not start:" >&2; cat "$work/$name/log" >&2; exit 2; }
}
serve plain
plain_url="http://127.0.0.1:$port"
serve tls --tls_cert "$work/server.pem" --tls_key "$work/server.key"
tls_url="https://127.0.0.1:$port"

seconds() { date +%s.%N; }
per_second() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
# requests/s of REQUESTS GET /healthz to BASE
requests_rate() {
  local a b
  a=$(seconds)
  curl -sS --cacert "$work/server.pem" "$1/healthz?[1-$requests]" >/dev/null  # 503 without pcscd: an answer too
  b=$(seconds)
  per_second "$requests" "$a" "$b"
}
# records/s of the records file through POST /v1/taps:parse at BASE
bulk_rate() {
  local a b
  a=$(seconds)
  curl -sS --fail-with-body --cacert "$work/server.pem" \
    -H 'Content-Type: application/octet-stream' --data-binary @"$work/records.bin" \
    "$1/v1/taps:parse?view=basic" -o "$work/out.jsonl"
  b=$(seconds)
  per_second "$records" "$a" "$b"
}

echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "requests: $requests GET /healthz per round; bulk: $records records per round"
declare -a req_plain req_tls bulk_plain bulk_tls
for round in $(seq "$rounds"); do
  req_plain+=("$(requests_rate "$plain_url")")
  req_tls+=("$(requests_rate "$tls_url")")
  bulk_plain+=("$(bulk_rate "$plain_url")")
  bulk_tls+=("$(bulk_rate "$tls_url")")
  printf 'round %d (load %s): requests/s HTTP %s HTTPS %s; records/s HTTP %s HTTPS %s\n' \
    "$round" "$(cut -d' ' -f1 /proc/loadavg)" "${req_plain[-1]}" "${req_tls[-1]}" \
    "${bulk_plain[-1]}" "${bulk_tls[-1]}"
done
middle() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
awk -v rp="$(middle "${req_plain[@]}")" -v rt="$(middle "${req_tls[@]}")" \
  -v bp="$(middle "${bulk_plain[@]}")" -v bt="$(middle "${bulk_tls[@]}")" 'BEGIN {
  printf "median requests/s: HTTP %d, HTTPS %d, ratio HTTPS/HTTP %.2f\n", rp, rt, rt / rp
  printf "median records/s:  HTTP %d, HTTPS %d, ratio HTTPS/HTTP %.2f\n", bp, bt, bt / bp
}'
