#!/usr/bin/env bash
# The test command: installs what is needed, builds wgtun three ways and runs every test.
#   normal build (hardened) -> all unit tests
#   ASan+UBSan build (no recovery) -> all unit tests
#   libFuzzer build -> every harness for a bounded time
#   interop tests (network namespaces, as root) when present
#   fault battery, short form (tests/battery/run.sh)
# Exits non-zero on any failure. Env: FUZZ_SECONDS (default 30), JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-30}

bash scripts/deps.sh

step() { printf '\n==== %s ====\n' "$*"; }

build() { # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
}

step "normal build"
build build
step "unit tests (normal build)"
ctest --test-dir build --output-on-failure -j "$jobs"

step "ASan+UBSan build"
build build-asan -DWGTUN_SANITIZE=asan -DCMAKE_C_COMPILER=gcc
step "unit tests (ASan+UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"

step "fuzz build (clang, libFuzzer)"
build build-fuzz -DWGTUN_FUZZ=ON -DCMAKE_C_COMPILER=clang
step "fuzz harnesses, ${fuzz_seconds}s each"
bash tests/fuzz/run.sh build-fuzz "$fuzz_seconds"

if [ -d tests/interop ] && ls tests/interop/*.sh >/dev/null 2>&1; then
  step "interop tests (network namespaces)"
  bash tests/interop/run.sh "$root/build"
fi
step "fault battery, short form (tests/battery: normal build; churn + allocation sweep under ASan, churn under TSan)"
bash tests/battery/run.sh "$root/build" --short
bash tests/battery/run.sh "$root/build-asan" --short churn failalloc
if [ -x build-tsan/wgtun ]; then
  bash tests/battery/run.sh "$root/build-tsan" --short churn
fi
step "all tests passed"
