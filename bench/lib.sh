# Shell helpers of the benchmark scripts (run_matrix.sh, run_scaling.sh):
# source it. fail_start names the script that sourced it.

stop() {  # stop PID: TERM, then KILL after 5 s
  local pid=$1
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {  # wait_for SECONDS COMMAND...: until COMMAND succeeds
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}

fail_start() {  # fail_start WHAT LOG: say why a server did not come up, stop
  echo "$(basename "$0" .sh): $1 did not start; last lines of $2:" >&2
  tail -n 20 "$2" >&2 2>/dev/null || true
  exit 1
}

# With autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled), a
# nice level only ranks processes inside their session's group: with NICE
# set, the calling script runs again in a session of its own
# (BENCH_NICE_SESSION marks it) and gives that whole group the NICE level.
# Call as `nice_session "$0" "$@"` after NICE is set.
nice_session() {
  [ "$NICE" != 0 ] || return 0
  if [ -z "${BENCH_NICE_SESSION:-}" ]; then
    export BENCH_NICE_SESSION=1
    exec setsid -w "$@"
  fi
  if [ -w /proc/self/autogroup ]; then
    echo "$NICE" >/proc/self/autogroup ||
      echo "$(basename "$1" .sh): cannot set the autogroup's nice level" >&2
  fi
}

# json_with FILE KEY=VALUE...: the JSON object in FILE with those members
# added (a value of digits as a number), on one line.
json_with() {
  python3 - "$@" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
for member in sys.argv[2:]:
    key, value = member.split("=", 1)
    r[key] = int(value) if value.isdigit() else value
print(json.dumps(r))
PY
}
