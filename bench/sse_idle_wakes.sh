#!/usr/bin/env bash
# Idle event streams: how often desfired's threads wake while N browsers hold GET /v1/events
# open and nothing happens (no pcscd: no card event), against the same desfired with no stream
# (the reference, measured first in the same run). Counted from the context switches of all
# of desfired's threads (/proc/PID/task/*/status) over SECONDS. An idle stream should cost
# nothing but its heartbeat (every --http_heartbeat, default 15 s).
#
#   bench/sse_idle_wakes.sh [STREAMS] [SECONDS]     (default 1000 streams, 10 s)
#   env: BUILD_DIR, DESFIRED (the binary; default $BUILD_DIR/server/desfired)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$top/build}
desfired=${DESFIRED:-$BUILD_DIR/server/desfired}
streams=${1:-1000}
seconds=${2:-10}
if [ ! -x "$desfired" ]; then
  echo "sse_idle_wakes: build first: cmake --build $BUILD_DIR --target desfired" >&2
  exit 2
fi
command -v python3 >/dev/null || { echo "sse_idle_wakes: python3 is missing" >&2; exit 2; }
. "$top/bench/desfired_http.sh"
bench_scratch
ulimit -n 65536 2>/dev/null || true
start_desfired_http "$desfired" --http_threads $((streams + 32)) --max_streams_per_caller 0 \
  --http_max_connections_per_address 0
echo "machine: $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg); $streams streams, $seconds s"
python3 - "$pid" "$http_port" "$streams" "$seconds" <<'PY'
import glob, socket, sys, time
pid, port, streams, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

def switches():
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            for line in open(status):
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    total += int(line.split()[-1])
        except OSError:
            pass
    return total

def rate():
    a = switches()
    time.sleep(seconds)
    return (switches() - a) / seconds

time.sleep(1)
reference = rate()
socks = []
for _ in range(streams):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET /v1/events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n".encode())
    socks.append(s)
for s in socks:  # every stream has its snapshot: it waits now
    s.settimeout(30)
    got = b""
    while b"\ndata: " not in got:
        got += s.recv(65536)
time.sleep(1)
idle = rate()
print(f"desfired wake-ups: {reference:.0f}/s with no stream (reference), {idle:.0f}/s with "
      f"{streams} idle streams: {(idle - reference) / streams:.2f}/s per idle stream")
PY
