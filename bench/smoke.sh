#!/usr/bin/env bash
# The benchmark's smoke test (ctest: bench_smoke), the only benchmark CI runs:
# a redis-server on a free loopback port, wsrelay on a free port, then
# wsrelay-bench with 50 connections and 100 messages, closed loop and
# rate-paced, then through the history script (a facility with history,
# clients plain and asking for positions), then over two gateways on the
# same Redis; any loss, duplicate, reordering or failed connection fails it.
# Both servers are stopped by PID on every exit path. Well under 20 s.
#   bench/smoke.sh [path/to/wsrelay] [path/to/wsrelay-bench]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
wsrelay=${1:-$here/../build/wsrelay}
bench=${2:-$here/../build/bench/wsrelay-bench}
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

work=$(mktemp -d /tmp/wsrelay-bench-smoke.XXXXXX)
redis_pid=""
wsrelay_pid=""
wsrelay2_pid=""
cleanup() {
  local rc=$?
  stop "$wsrelay2_pid"
  stop "$wsrelay_pid"
  stop "$redis_pid"
  if [ $rc -ne 0 ]; then
    echo "smoke: FAILED (rc=$rc); wsrelay log:" >&2
    tail -n 20 "$work/wsrelay.log" >&2 2>/dev/null || true
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# redis-server cannot bind port 0: pick a free port, retry if it was taken.
for _ in 1 2 3; do
  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --logfile "$work/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.05
  done
  redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
  stop "$redis_pid"
  redis_pid=""
done
[ -n "$redis_pid" ] || { echo "smoke: redis-server did not start" >&2; exit 1; }

start_wsrelay() {  # start_wsrelay NAME: sets pid and addr
  "$wsrelay" --listen 127.0.0.1:0 --redis "redis://127.0.0.1:$redis_port" \
    --set server.ready_file="$work/ready-$1" --set history.facilities=hist=100 \
    --threads 1 >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    [ -s "$work/ready-$1" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "smoke: $1 exited" >&2; exit 1; }
    sleep 0.05
  done
  [ -s "$work/ready-$1" ] || { echo "smoke: $1 is not ready" >&2; exit 1; }
  addr=$(head -n 1 "$work/ready-$1")
}
start_wsrelay wsrelay
wsrelay_pid=$pid

common=(--url "ws://$addr/ws/bench?subscribe-broadcast" --redis "127.0.0.1:$redis_port"
  --channel broadcast:bench --connections 50 --messages 100 --server-pid "$wsrelay_pid"
  --connect-timeout 5 --subscribe-timeout 5 --timeout 5)
echo "smoke: closed loop"
timeout 20 "$bench" "${common[@]}" --rate 0 --label "smoke closed loop"
echo "smoke: 1000 msg/s"
timeout 20 "$bench" "${common[@]}" --rate 1000 --label "smoke rate 1000"
history=(--url "ws://$addr/ws/hist?subscribe-broadcast" --redis "127.0.0.1:$redis_port"
  --channel broadcast:hist --history 100 --connections 50 --messages 100
  --server-pid "$wsrelay_pid" --connect-timeout 5 --subscribe-timeout 5 --timeout 5)
echo "smoke: history, plain clients"
timeout 20 "$bench" "${history[@]}" --rate 0 --label "smoke history"
echo "smoke: history, clients with positions"
history[1]="${history[1]}&history"
timeout 20 "$bench" "${history[@]}" --positions --rate 0 --label "smoke history positions"
# The messages went through the history script: the stream holds them.
entries=$(redis-cli -p "$redis_port" XLEN history:broadcast:hist)
[ "$entries" -ge 100 ] || { echo "smoke: the history stream has $entries entries" >&2; exit 1; }
# Two gateways on the Redis: the connections take the two URLs in turn.
first=$addr
start_wsrelay wsrelay2
wsrelay2_pid=$pid
echo "smoke: two gateways"
timeout 20 "$bench" --url "ws://$first/ws/bench?subscribe-broadcast" \
  --url "ws://$addr/ws/bench?subscribe-broadcast" --redis "127.0.0.1:$redis_port" \
  --channel broadcast:bench --connections 50 --messages 100 --server-pid "$wsrelay_pid" \
  --server-pid "$wsrelay2_pid" --connect-timeout 5 --subscribe-timeout 5 --timeout 5 --rate 0 \
  --label "smoke two gateways"
# Half of them on the second gateway (the scrape is counted too).
accepted=$(curl -s "http://$addr/metrics" | sed -n 's/^wsrelay_connections_accepted_total //p')
echo "smoke: the second gateway accepted ${accepted:-no} connections"
[ "${accepted:-0}" -ge 25 ] && [ "${accepted:-0}" -le 26 ] || exit 1
echo "smoke: ok"
