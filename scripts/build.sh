#!/usr/bin/env bash
# Configures and builds wsrelay into build/ (or $BUILD_DIR).
#   scripts/build.sh [--sanitize] [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${BUILD_DIR:-build}
# RelWithDebInfo: optimised, with symbols for profiles and stacks (a plain
# cmake configure gives Release, for installs).
args=(-DWSRELAY_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${1:-}" = "--sanitize" ]; then
  shift
  build_dir=${BUILD_DIR:-build-asan}
  args+=(-DWSRELAY_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
jobs=$(nproc)
# ccache: compile once across clones of this repository (CI builds a fresh
# clone in another folder), not once per path.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B "$build_dir" -G Ninja "${args[@]}" "$@" >&2
cmake --build "$build_dir" -j "$jobs" >&2
echo "$build_dir"
