#!/usr/bin/env bash
# Installs what the benchmark matrix (bench/run_matrix.sh) needs beyond the
# build and test dependencies of scripts/install-deps.sh, from Debian 12
# packages only. Idempotent: packages already present are not reinstalled.
#   bench/install-bench-deps.sh
# The Node.js relay's own modules (ws, redis) come from the npm registry and
# are installed by run_matrix.sh into bench/node-relay/node_modules.
set -euo pipefail

packages=(
  nginx libnginx-mod-nchan  # the Nchan peer (nginx module, Redis-backed channels)
  gnuplot-nox               # docs/benchmark.png
  util-linux                # taskset: one core for the server, one for the client
  redis-server redis-tools  # the broker every peer uses
  linux-perf valgrind       # the profile section of docs/benchmarks.md
  procps                    # uptime, ps
  curl python3              # readiness probe; the report (bench/matrix_report.py)
)
# Node.js: any node >= 18 with npm is fine (Debian 12 ships 18 as nodejs + npm).
# A node that is already installed (possibly not Debian's) is kept, because
# Debian's npm package conflicts with nodejs builds that bundle npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

# The same idempotent installer as the build's, with these packages added.
# The nginx package may start a system nginx on port 80 where services run;
# the benchmark starts its own nginx with its own config on a free loopback
# port and never uses the system one.
exec "$(dirname "$0")/../scripts/install-deps.sh" "${packages[@]}"
