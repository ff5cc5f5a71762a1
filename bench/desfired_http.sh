# Sourced by the HTTP API's bench scripts: a private scratch directory ($tmp, removed at exit)
# and desfired on loopback with its HTTP listener and no pcscd.
#
#   . "$(dirname "$0")/desfired_http.sh"
#   bench_scratch                      # $tmp; at exit: desfired stopped, $tmp removed
#   start_desfired_http "$desfired" --keys "$tmp/keys.conf" ...
#   # $pid, $port (gRPC), $http_port

bench_scratch() {
  tmp=$(mktemp -d)
  chmod 700 "$tmp"
  pid=
  trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; fi; wait 2>/dev/null; rm -rf "$tmp"' EXIT
}

# start_desfired_http BINARY [FLAGS...]: desfired with ports picked by the system, its data in
# $tmp, its log in $tmp/desfired.log; returns once both ports are known.
start_desfired_http() {
  local binary=$1
  shift
  "$binary" --listen 127.0.0.1:0 --http_listen 127.0.0.1:0 --port_file "$tmp/port" \
    --data_dir "$tmp" --pcsc_socket "$tmp/no-pcscd" "$@" 2>"$tmp/desfired.log" &
  pid=$!
  for _ in $(seq 100); do
    [ -s "$tmp/port" ] && grep -q '"http_port"' "$tmp/desfired.log" && break
    sleep 0.1
  done
  port=$(cat "$tmp/port")
  http_port=$(grep -o '"http_port":[0-9]*' "$tmp/desfired.log" | head -1 | cut -d: -f2)
}
