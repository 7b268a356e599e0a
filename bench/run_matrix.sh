#!/usr/bin/env bash
# Runs the benchmark matrix of docs/benchmarks.md against wsrelay and its two
# peers, in one go, on this machine:
#   peers        wsrelay (--threads 1), Nchan (nginx + libnginx-mod-nchan,
#                Redis-backed, one worker), the classic Node.js relay
#                (bench/node-relay: npm ws + redis, one shared subscription)
#                and, on request, the cost of history (docs/history.md):
#                wsrelay-history   the facility keeps a history of
#                                  HISTORY_ENTRIES (1000); every message goes
#                                  through the gateway's history script
#                                  (EVALSHA: XADD + PUBLISH), clients plain
#                wsrelay-positions the same, clients ask for positions
#                                  (?history: "<position> <message>" frames)
#   connections  1000, 5000, 10000
#   modes        sat: closed loop, as fast as the server delivers (--rate 0,
#                     --window 16) for SAT_SECONDS
#                lat: 1 message per second, LAT_MESSAGES messages
#   payload      64 bytes
# and, for each size, wsrelay-loopback-floor: the cost of one write(2) per
# socket with no server at all, the floor under the 1 msg/s figures.
# Each run gets a fresh redis-server and a fresh server process (so RSS per
# connection is not hidden by memory an earlier run left behind). The server
# is pinned to core SERVER_CPU; the load generator and redis-server share
# core CLIENT_CPU. Writes RESULTS_DIR/matrix-<time>.jsonl (one JSON object per
# run), RESULTS_DIR/matrix-<time>.md (the table), docs/benchmark.png.
#
#   bench/run_matrix.sh                 everything (about 6-10 minutes)
#   PEERS="wsrelay" SIZES="1000" bench/run_matrix.sh     a subset
#   PEERS="wsrelay wsrelay-history wsrelay-positions" SIZES="10 1000 10000" \
#     MODES=sat bench/run_matrix.sh                        history on and off
# Environment: BUILD_DIR (build-bench), RESULTS_DIR (bench/results),
#   SERVER_CPU (0), CLIENT_CPU (1), SAT_SECONDS (5), IDLE_AFTER (8), LAT_MESSAGES (10),
#   WSRELAY (a wsrelay binary to use instead of building one),
#   NICE (e.g. -15: run redis, the server and the client at that nice level,
#   so other work on a shared machine disturbs the figures less; needs root),
#   SKIP_INSTALL=1 (do not run the install scripts), SKIP_BUILD=1 (use the
#   binaries already in BUILD_DIR), PNG (docs/benchmark.png).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=bench/lib.sh
. bench/lib.sh

PEERS=${PEERS:-"wsrelay nchan node"}
SIZES=${SIZES:-"1000 5000 10000"}
MODES=${MODES:-"sat lat"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
SAT_SECONDS=${SAT_SECONDS:-5}
# After a saturating run the connections stay idle this long before the
# server's RSS is read again: what a burst leaves behind.
IDLE_AFTER=${IDLE_AFTER:-8}
LAT_MESSAGES=${LAT_MESSAGES:-10}
PAYLOAD=${PAYLOAD:-64}
HISTORY_ENTRIES=${HISTORY_ENTRIES:-1000}
BUILD_DIR=${BUILD_DIR:-$root/build-bench}
RESULTS_DIR=${RESULTS_DIR:-$root/bench/results}
PNG=${PNG:-$root/docs/benchmark.png}
NICE=${NICE:-0}
nice_session "$root/bench/run_matrix.sh" "$@"
# Command prefixes: pinned to a core, at the NICE level. nice and taskset
# exec the command, so $! of a background job is the command's own PID.
on_server=(nice -n "$NICE" taskset -c "$SERVER_CPU")
on_client=(nice -n "$NICE" taskset -c "$CLIENT_CPU")

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  scripts/install-deps.sh
  bench/install-bench-deps.sh
fi

# ---- build (Release) and the Node relay's modules
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  targets=(wsrelay-bench wsrelay-loopback-floor)
  [ -n "${WSRELAY:-}" ] || targets+=(wsrelay)
  cmake --build "$BUILD_DIR" -j2 --target "${targets[@]}"
fi
WSRELAY=${WSRELAY:-$BUILD_DIR/wsrelay}
BENCH=$BUILD_DIR/bench/wsrelay-bench
if [[ " $PEERS " == *" node "* ]]; then
  (cd bench/node-relay && { [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error; })
fi

ulimit -n "$(ulimit -Hn)"
nofile=$(ulimit -n)

stamp=$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$RESULTS_DIR"
results=$RESULTS_DIR/matrix-$stamp.jsonl
table=$RESULTS_DIR/matrix-$stamp.md
work=$(mktemp -d /tmp/wsrelay-matrix.XXXXXX)

redis_pid=""
server_pid=""
cleanup() {
  stop "$server_pid"
  stop "$redis_pid"
  server_pid=""
  redis_pid=""
}
trap 'cleanup; [ "${KEEP_WORK:-0}" = 1 ] && echo "work dir: $work" || rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

start_redis() {
  redis_port=$(free_port)
  "${on_client[@]}" redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$work" --logfile "$work/redis.log" --maxclients 1000 &
  redis_pid=$!
  wait_for 10 redis-cli -p "$redis_port" ping || fail_start redis-server "$work/redis.log"
}

# start_PEER: starts the server pinned to SERVER_CPU; sets server_pid (the
# process that does the work), url, and publish_args for wsrelay-bench.
start_wsrelay() {  # start_wsrelay [extra wsrelay flags]
  rm -f "$work/ready"
  "${on_server[@]}" "$WSRELAY" --listen 127.0.0.1:0 --redis "redis://127.0.0.1:$redis_port" \
    --threads 1 --log-level warn --set server.ready_file="$work/ready" "$@" >"$work/server.log" 2>&1 &
  server_pid=$!
  wait_for 10 test -s "$work/ready" || fail_start wsrelay "$work/server.log"
  url="ws://$(head -n 1 "$work/ready")/ws/bench?subscribe-broadcast"
  publish_args=(--redis "127.0.0.1:$redis_port" --channel broadcast:bench)
}
start_wsrelay-history() {
  start_wsrelay --set "history.facilities=bench=$HISTORY_ENTRIES"
  publish_args+=(--history "$HISTORY_ENTRIES")
}
start_wsrelay-positions() {
  start_wsrelay-history
  url="$url&history"
  publish_args+=(--positions)
}

start_node() {
  rm -f "$work/ready"
  "${on_server[@]}" node bench/node-relay/relay.js --listen 127.0.0.1:0 \
    --redis "redis://127.0.0.1:$redis_port" --ready-file "$work/ready" >"$work/server.log" 2>&1 &
  server_pid=$!
  wait_for 10 test -s "$work/ready" || fail_start "the Node relay" "$work/server.log"
  url="ws://$(head -n 1 "$work/ready")/ws/bench?subscribe-broadcast"
  publish_args=(--redis "127.0.0.1:$redis_port" --channel broadcast:bench)
}

nginx_master=""
start_nchan() {
  local port
  port=$(free_port)
  sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$port|g" -e "s|@REDIS_PORT@|$redis_port|g" \
    -e "s|@NOFILE@|$nofile|g" -e "s|@WORKER_CONNECTIONS@|$((nofile - 100))|g" \
    bench/nchan.conf.in >"$work/nginx.conf"
  "${on_server[@]}" nginx -p "$work" -c "$work/nginx.conf" -e "$work/error.log" &
  nginx_master=$!
  # The worker does all the work: measure it, not the master.
  wait_for 10 grep -q . "/proc/$nginx_master/task/$nginx_master/children" ||
    fail_start nginx "$work/error.log"
  server_pid=$(tr -d ' \n' <"/proc/$nginx_master/task/$nginx_master/children")
  wait_for 10 curl -s -o /dev/null "http://127.0.0.1:$port/pub/ready" ||
    fail_start nginx "$work/error.log"
  url="ws://127.0.0.1:$port/ws/bench?subscribe-broadcast"
  publish_args=(--publish-url "http://127.0.0.1:$port/pub/bench")
}
stop_server() {
  if [ -n "$nginx_master" ]; then
    stop "$nginx_master"
    nginx_master=""
    server_pid=""
  else
    stop "$server_pid"
    server_pid=""
  fi
}

{
  echo "# wsrelay benchmark matrix, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "# $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/{print $2}') GiB,"\
    "kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), nice $NICE"
} | tee "$work/table.head"

runs=0
failures=0
# Peers take turns at each size, so a change in the machine's load over the
# matrix affects every peer alike.
for n in $SIZES; do
  for mode in $MODES; do
    for peer in $PEERS; do
      start_redis
      "start_$peer"
      if [ "$mode" = sat ]; then
        mode_args=(--rate 0 --window 16 --messages 1000000 --duration "$SAT_SECONDS"
          --idle-after "$IDLE_AFTER")
      else
        mode_args=(--rate 1 --messages "$LAT_MESSAGES")
      fi
      echo "== $peer, $n connections, $mode (load $(cut -d' ' -f1 /proc/loadavg))"
      set +e
      "${on_client[@]}" "$BENCH" --url "$url" "${publish_args[@]}" --connections "$n" \
        "${mode_args[@]}" --payload "$PAYLOAD" --server-pid "$server_pid" --redis-pid "$redis_pid" \
        --threads 1 --connect-timeout 120 --subscribe-timeout 60 --timeout 15 \
        --label "$peer $n $mode" --json >"$work/run.json"
      rc=$?
      set -e
      runs=$((runs + 1))
      if [ ! -s "$work/run.json" ]; then
        echo "   no result (rc=$rc); server log:"
        tail -n 5 "$work/server.log" "$work/error.log" 2>/dev/null || true
        failures=$((failures + 1))
      else
        [ $rc -eq 0 ] || failures=$((failures + 1))
        json_with "$work/run.json" peer="$peer" size="$n" mode="$mode" >>"$results"
        python3 - "$work/run.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency_ms"]
print("   %d/%d open, %.0f conn/s; %d delivered, %.0f/s, lost %d; server %.3f us/delivery (%.0f%%), "
      "%.2f KiB/conn; p50 %.2f p99 %.2f max %.2f ms; client %.0f%%" % (
      r["connections_opened"], r["connections"], r["connects_per_second"], r["delivered"],
      r["delivered_per_second"], r["lost"], r.get("server_cpu_us_per_delivery", -1),
      r.get("server_cpu_percent", -1), r.get("server_rss_per_connection_kib", -1),
      l["p50"], l["p99"], l["max"], r["client_cpu_percent"]))
print("   other processes: %.0f%% of a core" % r.get("other_cpu_percent", -1))
EOF
      fi
      stop_server
      stop "$redis_pid"
      redis_pid=""
    done
  done
done

# The floor: one write(2) per socket on loopback with no server at all, pinned
# the same way (sender on the server's core, reader on the client's).
FLOOR=$BUILD_DIR/bench/wsrelay-loopback-floor
if [ -x "$FLOOR" ]; then
  for n in $SIZES; do
    echo "== loopback floor, $n sockets"
    "${on_server[@]}" "$FLOOR" --connections "$n" --rounds 5 --sender-cpu "$SERVER_CPU" \
      --receiver-cpu "$CLIENT_CPU" --json >"$work/floor.json" || continue
    python3 - "$n" "$work/floor.json" >>"$results" <<'EOF'
import json, sys
n, path = sys.argv[1:3]
r = json.load(open(path))
r.update(peer="floor", size=int(n), mode="floor", load_average_start=open("/proc/loadavg").read()[:14])
print(json.dumps(r))
EOF
    cat "$work/floor.json"
  done
fi

python3 bench/matrix_report.py "$results" --png "$PNG" --head "$work/table.head" >"$table"
cat "$table"
echo "results: $results"
echo "table:   $table"
echo "chart:   $PNG"
echo "$runs runs, $failures with loss or errors"
