#!/usr/bin/env bash
# Installs what wsrelay needs, from Debian 12 packages only, in sets.
# Idempotent: packages already present are not reinstalled.
#   scripts/install-deps.sh --build      compile the daemon only (docker/Dockerfile)
#   scripts/install-deps.sh --run        build the daemon and run it with a local Redis
#                                         (scripts/run.sh): compiler, libraries, redis
#   scripts/install-deps.sh [--test]     the run set plus every test's tools (the default;
#                                         scripts/test.sh): Catch2, Node.js + Chromium for
#                                         the JavaScript client, nginx, clang/LLVM for fuzzing
#   scripts/install-deps.sh --container  podman and friends for docker/test.sh, nothing else
#   scripts/install-deps.sh [SET] PKG... that set plus PKG... (bench/install-bench-deps.sh)
set -euo pipefail

set_name=test
case "${1:-}" in
  --build | --run | --test | --container) set_name=${1#--}; shift ;;
esac

build_packages=(
  build-essential cmake ninja-build ccache pkg-config
  libboost1.81-dev          # Beast + Asio (1.74 is Debian's default; we need 1.81)
  libhiredis-dev            # redisReader + redisFormatCommandArgv only
  nlohmann-json3-dev libspdlog-dev libfmt-dev
  libtomlplusplus-dev libcli11-dev
  libssl-dev                # libcrypto: JWT signature checks (HS256, RS256, ES256)
  libsystemd-dev            # sd_notify: readiness, reload and stop under systemd (Type=notify)
)
run_packages=(
  "${build_packages[@]}"
  redis-server redis-tools  # the run command's Redis (and the tests')
)
test_packages=(
  "${run_packages[@]}"
  catch2 clang-format
  python3 python3-django    # test helpers; the Django bridge test (examples/django)
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer + sanitizer runtimes
  llvm-14                   # llvm-symbolizer: fuzz stacks with file:line
  nodejs chromium           # the JavaScript client's tests (node --test, the demo in a browser)
  git                       # the quick-start test clones the repository
  nginx openssl             # config/nginx/wsrelay.conf in front of the gateway; its test certificate
  systemd                   # systemd-analyze verify of config/systemd/wsrelay.service
)
# docker/test.sh: podman with runc and CNI networks whose containers resolve
# each other by name (dnsname), podman-compose to run docker/compose.yaml,
# docker-compose only to validate that file, debootstrap for the base image
# (nothing can be pulled from a registry here).
container_packages=(
  podman runc containernetworking-plugins golang-github-containernetworking-plugin-dnsname
  podman-compose docker-compose debootstrap iptables
  curl python3              # docker/test.sh: the probes through nginx (docker/ws_probe.py)
)

case $set_name in
  build) packages=("${build_packages[@]}") ;;
  run) packages=("${run_packages[@]}") ;;
  test)
    packages=("${test_packages[@]}")
    # npm comes with some builds of nodejs and is its own Debian package otherwise.
    command -v npm >/dev/null 2>&1 || packages+=(npm)
    ;;
  container) packages=("${container_packages[@]}") ;;
esac
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present ($set_name set)"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The Debian packages of redis-server and nginx start system services
  # (6379, 80) where services run; wsrelay's tests and run command start
  # their own on other ports, so the system ones are left as the packages set them.
  echo "install-deps: installed ${missing[*]}"
fi

# The client's test tools (ws, playwright-core), exactly as package-lock.json
# pins them; again only when the lock file changed since the last install.
if [ "$set_name" = test ]; then
  js_dir="$(dirname "$0")/../clients/js"
  if [ ! -f "$js_dir/node_modules/.package-lock.json" ] ||
    [ "$js_dir/package-lock.json" -nt "$js_dir/node_modules/.package-lock.json" ]; then
    (cd "$js_dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "install-deps: installed clients/js/node_modules"
  fi
fi
