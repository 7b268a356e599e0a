#!/usr/bin/env bash
# Several gateways on one Redis (docs/scaling.md): the same connections
# spread over 1, 2 and 3 wsrelay processes, each run with a fresh
# redis-server and fresh gateways, in one go so the ratios compare runs made
# under the same machine load. Then what Redis alone tops out at: PUBLISH
# with redis-benchmark, with 0, 1, 3 and 10 subscriber connections.
#
#   bench/run_scaling.sh                    everything (about 3-5 minutes)
#   GATEWAYS="1 3" ROUNDS=1 bench/run_scaling.sh
# Environment: GATEWAYS ("1 2 3"), CONNECTIONS (3000, in total), ROUNDS (3:
#   the gateway counts take turns, round after round), SAT_SECONDS (5),
#   PAYLOAD (64), GATEWAY_CPUS ("0": gateway i runs on the i-th of these,
#   in turn), CLIENT_CPU (1: the load generator and redis-server), THREADS
#   (1: each gateway's --threads), REDIS_SUBSCRIBERS ("0 1 3 10"; empty
#   skips the redis-benchmark part), BUILD_DIR (build-bench), RESULTS_DIR
#   (bench/results), WSRELAY (a binary to use instead of building one),
#   SKIP_BUILD=1, NICE (e.g. -15, as bench/run_matrix.sh; needs root).
# Writes RESULTS_DIR/scaling-<time>.jsonl: one JSON object per run (the
# bench tool's report plus "gateways" and "round"), and one per
# redis-benchmark run ("mode": "redis-publish").
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=bench/lib.sh
. bench/lib.sh

GATEWAYS=${GATEWAYS:-"1 2 3"}
CONNECTIONS=${CONNECTIONS:-3000}
ROUNDS=${ROUNDS:-3}
SAT_SECONDS=${SAT_SECONDS:-5}
PAYLOAD=${PAYLOAD:-64}
read -r -a gateway_cpus <<<"${GATEWAY_CPUS:-0}"
CLIENT_CPU=${CLIENT_CPU:-1}
THREADS=${THREADS:-1}
REDIS_SUBSCRIBERS=${REDIS_SUBSCRIBERS-"0 1 3 10"}
BUILD_DIR=${BUILD_DIR:-$root/build-bench}
RESULTS_DIR=${RESULTS_DIR:-$root/bench/results}
NICE=${NICE:-0}
nice_session "$root/bench/run_scaling.sh" "$@"
on_client=(nice -n "$NICE" taskset -c "$CLIENT_CPU")
on_gateway() {  # on_gateway I: the command prefix of gateway I
  echo "nice -n $NICE taskset -c ${gateway_cpus[$(($1 % ${#gateway_cpus[@]}))]}"
}

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  targets=(wsrelay-bench)
  [ -n "${WSRELAY:-}" ] || targets+=(wsrelay)
  cmake --build "$BUILD_DIR" -j2 --target "${targets[@]}"
fi
WSRELAY=${WSRELAY:-$BUILD_DIR/wsrelay}
BENCH=$BUILD_DIR/bench/wsrelay-bench

ulimit -n "$(ulimit -Hn)"
stamp=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS_DIR"
results=$RESULTS_DIR/scaling-$stamp.jsonl
work=$(mktemp -d /tmp/wsrelay-scaling.XXXXXX)

redis_pid=""
gateway_pids=()
subscriber_pids=()
stop_gateways() {
  local pid
  for pid in "${gateway_pids[@]}"; do stop "$pid"; done
  gateway_pids=()
}
stop_subscribers() {
  local pid
  for pid in "${subscriber_pids[@]}"; do stop "$pid"; done
  subscriber_pids=()
}
cleanup() {
  stop_gateways
  stop_subscribers
  stop "$redis_pid"
  redis_pid=""
}
trap 'cleanup; [ "${KEEP_WORK:-0}" = 1 ] && echo "work dir: $work" || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

start_redis() {  # start_redis CPU
  redis_port=$(free_port)
  nice -n "$NICE" taskset -c "$1" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$work" --logfile "$work/redis.log" --maxclients 1000 &
  redis_pid=$!
  wait_for 10 redis-cli -p "$redis_port" ping || fail_start redis-server "$work/redis.log"
}

# start_gateways N: N gateways on the Redis; sets urls (--url flags) and
# pid_args (--server-pid flags).
start_gateways() {
  local i
  urls=()
  pid_args=()
  for ((i = 0; i < $1; i++)); do
    rm -f "$work/ready-$i"
    # shellcheck disable=SC2046 # the prefix is words
    $(on_gateway "$i") "$WSRELAY" --listen 127.0.0.1:0 --redis "redis://127.0.0.1:$redis_port" \
      --threads "$THREADS" --log-level warn --set server.ready_file="$work/ready-$i" \
      >"$work/gateway-$i.log" 2>&1 &
    gateway_pids+=($!)
  done
  for ((i = 0; i < $1; i++)); do
    wait_for 10 test -s "$work/ready-$i" || fail_start "gateway $i" "$work/gateway-$i.log"
    urls+=(--url "ws://$(head -n 1 "$work/ready-$i")/ws/bench?subscribe-broadcast")
    pid_args+=(--server-pid "${gateway_pids[$i]}")
  done
}

{
  echo "# wsrelay scaling, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r),"\
    "load $(cut -d' ' -f1-3 /proc/loadavg), nice $NICE; gateways on cpu ${gateway_cpus[*]},"\
    "client and redis on cpu $CLIENT_CPU; $CONNECTIONS connections in total"
} | tee "$work/head"

failures=0
for round in $(seq 1 "$ROUNDS"); do
  for n in $GATEWAYS; do
    start_redis "$CLIENT_CPU"
    start_gateways "$n"
    echo "== round $round, $n gateway(s), $CONNECTIONS connections (load $(cut -d' ' -f1 /proc/loadavg))"
    set +e
    "${on_client[@]}" "$BENCH" "${urls[@]}" "${pid_args[@]}" --redis "127.0.0.1:$redis_port" \
      --redis-pid "$redis_pid" --channel broadcast:bench --connections "$CONNECTIONS" \
      --rate 0 --window 16 --messages 1000000 --duration "$SAT_SECONDS" --payload "$PAYLOAD" \
      --threads 1 --connect-timeout 120 --subscribe-timeout 60 --timeout 15 \
      --label "$n gateways" --json >"$work/run.json"
    rc=$?
    set -e
    if [ ! -s "$work/run.json" ]; then
      echo "   no result (rc=$rc)"
      failures=$((failures + 1))
    else
      [ $rc -eq 0 ] || failures=$((failures + 1))
      json_with "$work/run.json" gateways="$n" round="$round" mode=gateways >>"$results"
      python3 - "$work/run.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print("   %d delivered, %.0f/s, lost %d; gateways %.3f us/delivery (%.0f%% of a core); "
      "redis %.1f us/message; p50 %.2f p99 %.2f ms; client %.0f%%; others %.0f%%" % (
      r["delivered"], r["delivered_per_second"], r["lost"], r.get("server_cpu_us_per_delivery", -1),
      r.get("server_cpu_percent", -1), r.get("redis_cpu_us_per_message", -1), l["p50"], l["p99"],
      r["client_cpu_percent"], r.get("other_cpu_percent", -1)))
EOF
    fi
    stop_gateways
    stop "$redis_pid"
    redis_pid=""
  done
done

subscribers() {  # subscriber connections of broadcast:bench
  redis-cli -p "$redis_port" pubsub numsub broadcast:bench | tail -n 1
}
subscribers_are() { [ "$(subscribers)" = "$1" ]; }

# Redis alone: PUBLISH as fast as redis-benchmark sends it (4 connections,
# 256 commands pipelined on each), with K subscriber connections that read
# and discard, Redis on a core of its own. On 2 cores the
# sender and the subscribers share the other core and are the limit before
# Redis is: Redis's CPU per PUBLISH gives what it would top out at.
redis_cpu=${gateway_cpus[0]}
# A subscriber that reads and discards without parsing: redis-cli, which
# prints every message, falls behind and Redis drops it at its pub/sub
# output buffer limit (then "subscribers left" below is short).
reader='import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"SUBSCRIBE broadcast:bench\r\n")
while s.recv(1 << 20):
    pass'

message=$(head -c "$PAYLOAD" /dev/zero | tr '\0' x)
for k in $REDIS_SUBSCRIBERS; do
  start_redis "$redis_cpu"
  for ((i = 0; i < k; i++)); do
    "${on_client[@]}" python3 -c "$reader" "$redis_port" &
    subscriber_pids+=($!)
  done
  wait_for 10 subscribers_are "$k" || fail_start "$k subscribers" "$work/redis.log"
  cpu0=$(awk '{print $14 + $15}' "/proc/$redis_pid/stat")
  t0=$(date +%s.%N)
  "${on_client[@]}" redis-benchmark -p "$redis_port" -c 4 -P 256 -n 2000000 --csv \
    PUBLISH broadcast:bench "$message" >"$work/rb.csv"
  t1=$(date +%s.%N)
  cpu1=$(awk '{print $14 + $15}' "/proc/$redis_pid/stat")
  left=$(subscribers)
  python3 - "$k" "$left" "$work/rb.csv" "$t0" "$t1" "$cpu0" "$cpu1" "$(getconf CLK_TCK)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF' | tee -a "$results"
import csv, json, sys
k, left, path, t0, t1, cpu0, cpu1, hz, load = sys.argv[1:10]
rows = list(csv.reader(open(path)))
rps = float(rows[-1][1])
secs = float(t1) - float(t0)
cpu = (int(cpu1) - int(cpu0)) / int(hz)
us = 1e6 * cpu / 2000000
print(json.dumps({"mode": "redis-publish", "subscribers": int(k), "subscribers_left": int(left),
                  "publish_per_second": rps, "redis_cpu_percent": 100 * cpu / secs,
                  "redis_cpu_us_per_publish": us, "redis_publish_ceiling": 1e6 / us if us else None,
                  "deliveries_per_second": rps * int(k), "load_average_end": load}))
EOF
  stop_subscribers
  stop "$redis_pid"
  redis_pid=""
done

python3 - "$results" "$work/head" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(open(sys.argv[2]).read().rstrip())
g = [r for r in runs if r.get("mode") == "gateways"]
if g:
    print("| gateways | delivered/s (median) | ratio to 1 | gateways' CPU us/delivery | redis us/message | p99 ms | lost |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    base = None
    for n in sorted({r["gateways"] for r in g}):
        rs = [r for r in g if r["gateways"] == n]
        d = statistics.median(r["delivered_per_second"] for r in rs)
        base = base or d
        med = lambda k: statistics.median(r.get(k, float("nan")) for r in rs)
        print("| %d | %.0f | %.2f | %.3f | %.1f | %.2f | %d |" % (
            n, d, d / base, med("server_cpu_us_per_delivery"), med("redis_cpu_us_per_message"),
            statistics.median(r["latency_ms"]["p99"] for r in rs), sum(r["lost"] for r in rs)))
p = [r for r in runs if r.get("mode") == "redis-publish"]
if p:
    print()
    print("| subscribers | PUBLISH/s measured | redis CPU % | redis us/PUBLISH | PUBLISH/s at 100% of its core | subscribers left |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in p:
        print("| %d | %.0f | %.0f | %.3f | %.0f | %d |" % (r["subscribers"], r["publish_per_second"],
              r["redis_cpu_percent"], r["redis_cpu_us_per_publish"],
              r["redis_publish_ceiling"] or 0, r["subscribers_left"]))
EOF
echo "results: $results"
echo "$failures runs with loss or errors"
[ "$failures" -eq 0 ]
