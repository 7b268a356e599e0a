#!/usr/bin/env bash
# Installs what is missing, builds, starts a local redis-server (unless one
# already answers on 127.0.0.1:6379) and runs wsrelay in the foreground on
# http://127.0.0.1:8080 with the demo on; once it listens, prints the demo's
# URL. Ctrl-C stops both.
#   scripts/run.sh [extra wsrelay flags]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=$(scripts/build.sh | tail -n 1)

redis_port=${REDIS_PORT:-6379}
redis_pid=""
if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  echo "run: using the redis-server already on 127.0.0.1:$redis_port"
else
  mkdir -p "$build_dir/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$build_dir/redis" --logfile "$build_dir/redis/redis.log" &
  redis_pid=$!
  for _ in $(seq 1 100); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
  echo "run: started redis-server on 127.0.0.1:$redis_port (pid $redis_pid)"
fi
cleanup() { [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null; true; }
trap cleanup EXIT

ready_file="$build_dir/run.ready"
rm -f "$ready_file"
"$build_dir/wsrelay" --config config/wsrelay.toml --redis "redis://127.0.0.1:$redis_port" \
  --set server.demo=true --set "server.ready_file=$ready_file" "$@" &
wsrelay_pid=$!
trap 'kill -TERM $wsrelay_pid 2>/dev/null' INT TERM
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
wait $wsrelay_pid || true
wait $wsrelay_pid 2>/dev/null || true
