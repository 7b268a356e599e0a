#!/usr/bin/env bash
# Installs everything wsrelay needs to build, run and test, from Debian 12
# packages only. Idempotent: packages already present are not reinstalled.
#   scripts/install-deps.sh            build + run + test dependencies
#   scripts/install-deps.sh PKG...     those, plus PKG... (bench/install-bench-deps.sh)
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config clang-format
  libboost1.81-dev          # Beast + Asio (1.74 is Debian's default; we need 1.81)
  libhiredis-dev            # redisReader + redisFormatCommandArgv only
  nlohmann-json3-dev libspdlog-dev libfmt-dev catch2
  libtomlplusplus-dev libcli11-dev
  libssl-dev                # libcrypto: JWT signature checks (HS256, RS256, ES256)
  redis-server redis-tools  # tests and the run command
  python3 python3-django    # test helpers; the Django bridge test (examples/django)
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer + sanitizer runtimes
  llvm-14                   # llvm-symbolizer: fuzz stacks with file:line
  nodejs chromium           # the JavaScript client's tests (node --test, the demo in a browser)
)
# npm comes with some builds of nodejs and is its own Debian package otherwise.
command -v npm >/dev/null 2>&1 || packages+=(npm)
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The Debian package starts a system redis-server on 6379; wsrelay's tests and
  # run command start their own, so the system one is left as the package set it.
  echo "install-deps: installed ${missing[*]}"
fi

# The client's test tools (ws, playwright-core), exactly as package-lock.json
# pins them; again only when the lock file changed since the last install.
js_dir="$(dirname "$0")/../clients/js"
if [ ! -f "$js_dir/node_modules/.package-lock.json" ] ||
  [ "$js_dir/package-lock.json" -nt "$js_dir/node_modules/.package-lock.json" ]; then
  (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "install-deps: installed clients/js/node_modules"
fi
