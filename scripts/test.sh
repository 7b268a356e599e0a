#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (unit + integration
# against a real redis-server that the tests start on free loopback ports).
#   scripts/test.sh               normal build (build/)
#   scripts/test.sh --sanitize    ASan + UBSan build (build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
build_dir=$(scripts/build.sh "$@" | tail -n 1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build_dir"
ctest --output-on-failure --timeout 120 -j 2
