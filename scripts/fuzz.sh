#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, with clang) into build-fuzz/ and runs
# each for SECONDS (default 10) on a copy of its seed corpus, so the committed
# seeds are never modified. Exits non-zero if any target crashed, leaked, hung
# or ran out of memory, after printing the input that reproduces it.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 600 fuzz_resp
# Reproducing, minimizing and what each target covers: docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-10}
if [ $# -gt 0 ]; then shift; fi
case $seconds in
  '' | *[!0-9]*)
    echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
    exit 2
    ;;
esac
all_targets=(fuzz_target_parser fuzz_resp fuzz_config fuzz_ws_frame fuzz_command)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all_targets[@]}"); fi

scripts/install-deps.sh >&2

build_dir=${BUILD_DIR:-build-fuzz}
build_start=$SECONDS
# ccache: compile once across clones of this repository (see scripts/build.sh).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
# WSRELAY_ROOT (default: this checkout) is the tree whose src/ is fuzzed.
cmake -S fuzz -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER=clang++ \
  -DWSRELAY_ROOT="${WSRELAY_ROOT:-$PWD}" >&2
# Two jobs at most: CI machines and laptops share these cores.
cmake --build "$build_dir" -j "${FUZZ_BUILD_JOBS:-2}" >&2
echo "fuzz: built in $((SECONDS - build_start)) s"

# Readable stacks: Debian installs the symbolizer under the LLVM prefix only.
for s in /usr/lib/llvm-14/bin/llvm-symbolizer "$(command -v llvm-symbolizer || true)"; do
  if [ -x "$s" ]; then
    export ASAN_SYMBOLIZER_PATH=$s
    break
  fi
done
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$build_dir/artifacts"
logs="$build_dir/logs"
mkdir -p "$artifacts" "$logs"

failed=()
for target in "${targets[@]}"; do
  if [ ! -x "$build_dir/$target" ] || [ ! -d "fuzz/corpus/$target" ]; then
    echo "fuzz: unknown target $target (targets: ${all_targets[*]})" >&2
    exit 2
  fi
  cp -r "fuzz/corpus/$target" "$work/$target"
  dict=()
  [ -f "fuzz/$target.dict" ] && dict=(-dict="fuzz/$target.dict")
  log="$logs/$target.log"
  # -timeout: one input taking 10 s is a hang worth reporting, not waiting for.
  if "$build_dir/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$target-" "${dict[@]}" \
    "$work/$target" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    echo "fuzz: $target: ok, ${runs:-?} runs in $seconds s, $cov"
  else
    failed+=("$target")
    echo "fuzz: $target: FAILED (full log: $log)" >&2
    grep -v -e '^#[0-9]' -e '^INFO:' "$log" | tail -n 60 >&2
    grep -o 'Test unit written to .*' "$log" | sed 's/^Test unit written to /fuzz: reproducer: /' >&2 ||
      true
    echo "fuzz: reproduce with: $build_dir/$target <reproducer>" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran $seconds s each without a finding"
