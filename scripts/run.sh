#!/usr/bin/env bash
# Installs what is missing (the run set only: no test tools), builds the
# daemon into build-run/, starts a local redis-server (unless one already
# answers on 127.0.0.1:$REDIS_PORT, 6379 by default) and runs wsrelay in the
# foreground on http://127.0.0.1:8080 with the demo on (its facility keeps a
# history of 1000 messages, so its page resumes after a drop); once it listens,
# prints the demo's URL. Ctrl-C (or SIGTERM) stops both; the exit status is
# wsrelay's (0 after a clean drain).
#   scripts/run.sh [extra wsrelay flags, e.g. --listen 127.0.0.1:9000]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh --run
build_dir=$(BUILD_DIR=${BUILD_DIR:-build-run} scripts/build.sh -DWSRELAY_TESTS=OFF -DWSRELAY_BENCH=OFF | tail -n 1)
# Absolute: redis-server changes into --dir before it opens --logfile.
build_dir=$(cd "$build_dir" && pwd)

redis_port=${REDIS_PORT:-6379}
redis_pid=""
cleanup() {
  if [ -n "$redis_pid" ]; then
    kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
    echo "run: stopped redis-server (pid $redis_pid)"
  fi
  true
}
trap cleanup EXIT

if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  echo "run: using the redis-server already on 127.0.0.1:$redis_port"
else
  redis_dir="$build_dir/redis"
  mkdir -p "$redis_dir"
  # setsid here and for wsrelay: Ctrl-C signals the terminal's process
  # group, and only this script must get it. It stops wsrelay with one
  # SIGTERM (a second one would cut the drain short), then Redis.
  setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$redis_dir" --logfile "$redis_dir/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 200); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.05
  done
  if ! redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
    echo "run: redis-server did not start on 127.0.0.1:$redis_port; its log ($redis_dir/redis.log):" >&2
    tail -n 20 "$redis_dir/redis.log" >&2 2>/dev/null || true
    exit 1
  fi
  echo "run: started redis-server on 127.0.0.1:$redis_port (pid $redis_pid)"
fi

ready_file="$build_dir/run.ready"
rm -f "$ready_file"
setsid "$build_dir/wsrelay" --config config/wsrelay.toml --redis "redis://127.0.0.1:$redis_port" \
  --set server.demo=true --set history.facilities=demo=1000 \
  --set "server.ready_file=$ready_file" "$@" &
wsrelay_pid=$!
trap 'kill -TERM "$wsrelay_pid" 2>/dev/null' INT TERM
for _ in $(seq 1 200); do
  [ -s "$ready_file" ] || ! kill -0 "$wsrelay_pid" 2>/dev/null && break
  sleep 0.05
done
if [ -s "$ready_file" ]; then
  address=$(cat "$ready_file")
  case $address in 0.0.0.0:*) address="127.0.0.1:${address#*:}" ;; esac
  echo "run: try   redis-cli -p $redis_port PUBLISH broadcast:demo hello"
  echo "run: demo: http://$address/demo/"
fi
set +e
wait "$wsrelay_pid"
status=$?
# A trapped signal interrupts `wait` (status above 128) while wsrelay drains:
# wait again for its own exit status.
while [ "$status" -gt 128 ] && kill -0 "$wsrelay_pid" 2>/dev/null; do
  wait "$wsrelay_pid"
  status=$?
done
exit "$status"
