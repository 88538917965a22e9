#!/usr/bin/env bash
# The test command: installs what is needed, builds wgtun several ways and runs every test.
#   normal build (hardened) -> all unit tests, then the unit tests under valgrind memcheck
#   ASan+UBSan build (no recovery) -> all unit tests
#   TSan build -> all unit tests (and a bounded interop subset, see TSAN_INTEROP)
#   gcc TSan build of the secrets tests only -> unit_secrets, unit_secrets_device
#   static analysis: gcc -fanalyzer, clang-tidy, cppcheck (scripts/analyze.sh)
#   libFuzzer build -> every harness for a bounded time
#   interop tests (network namespaces, as root) when present, then a subset again with every
#   offload off (WGTUN_NO_OFFLOAD=1) and a subset on the TSan build
#   benchmark smoke run (bench/run.sh --smoke, results in a scratch dir)
#   fault battery, short form (tests/battery/run.sh)
# Exits non-zero on any failure. Env: FUZZ_SECONDS (default 20), JOBS (default nproc),
# TSAN_INTEROP (space-separated globs of interop tests to rerun on the TSan build; default
# below: all but the tool-centred ones (wg-quick, CLI, demo, privilege drop, wg show, MTU,
# refusals); empty = none), OFFLOAD_OFF_INTEROP (the same for the offloads-off rerun),
# BENCH_SMOKE (0 = skip the benchmark smoke run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-$(nproc)}
fuzz_seconds=${FUZZ_SECONDS:-20}
tsan_interop=${TSAN_INTEROP-t_pair_* t_peer_* t_roaming* t_transfer_* t_uapi_* t_linkstate* \
t_sticky t_rekey t_garbage t_offload_off t_keepalive t_mem_release t_busy_poll t_uso t_tunfd}
# t_offload_off (100 MiB transfers) and t_rekey_offload_off (in the first pass, in the
# background) already run without offloads; these are the others that move data or follow
# endpoints, where the plain TUN and the socket without GSO/GRO take other code paths.
offload_off_interop=${OFFLOAD_OFF_INTEROP-t_pair_* t_roaming t_sticky t_garbage t_mtu \
t_busy_poll}
bench_smoke=${BENCH_SMOKE:-1}

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

step "unit tests under valgrind memcheck (normal build)"
bash scripts/valgrind.sh build "$jobs"

step "TSan build"
build build-tsan -DWGTUN_SANITIZE=tsan -DCMAKE_C_COMPILER=clang
step "unit tests (TSan)"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j "$jobs"

# gcc's TSan runtime saves vector registers (once a Noise chaining key) in frames below the
# crypto, which only crypto_burn_stack wipes; the clang TSan build above leaves no such copy,
# so test_secrets passes there without the burn. A gcc TSan build of just the secrets tests.
step "secrets tests on a gcc TSan build"
cmake -S . -B build-tsan-gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWGTUN_SANITIZE=tsan \
  -DCMAKE_C_COMPILER=gcc >/dev/null
cmake --build build-tsan-gcc -j "$jobs" --target test_secrets test_secrets_device
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan-gcc --output-on-failure -R '^unit_secrets'

step "static analysis (gcc -fanalyzer, clang-tidy, cppcheck)"
JOBS=$jobs bash scripts/analyze.sh

step "fuzz build (clang, libFuzzer)"
build build-fuzz -DWGTUN_FUZZ=ON -DCMAKE_C_COMPILER=clang
step "fuzz harnesses, ${fuzz_seconds}s each"
bash tests/fuzz/run.sh build-fuzz "$fuzz_seconds"

if [ -d tests/interop ] && ls tests/interop/*.sh >/dev/null 2>&1; then
  step "interop tests (network namespaces)"
  bash tests/interop/run.sh "$root/build"
  if [ -n "$offload_off_interop" ]; then
    # lib.sh checks that every wgtun these tests start has no vnet header (its log line and
    # the kernel's view) and fails a test that started none.
    step "interop tests with offloads off, WGTUN_NO_OFFLOAD=1 ($offload_off_interop)"
    WGTUN_NO_OFFLOAD=1 ONLY="$offload_off_interop" bash tests/interop/run.sh "$root/build"
  fi
  if [ -n "$tsan_interop" ]; then
    # The daemon under TSan against wireguard-go and itself. Reports go to files, so one
    # printed at shutdown (after the test's own checks) still fails the step. One run.sh
    # call, so that t_rekey's 120 s wait runs alongside the others.
    step "interop tests on the TSan build ($tsan_interop)"
    tsan_logs=$(mktemp -d /tmp/wgtun-tsan.XXXXXX)
    TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$tsan_logs/report" \
      ONLY="$tsan_interop" INTEROP_TIMEOUT=300 bash tests/interop/run.sh "$root/build-tsan"
    if ls "$tsan_logs"/report* >/dev/null 2>&1; then
      cat "$tsan_logs"/report*
      echo "TSan reported races in the interop tests" >&2
      exit 1
    fi
    rm -rf "$tsan_logs"
  fi
fi
if [ "$bench_smoke" != 0 ]; then
  step "benchmark smoke run (bench/run.sh --smoke)"
  bash scripts/bench-smoke.sh "$root/build"
fi
step "fault battery, short form (tests/battery: normal build; churn + allocation sweep under ASan, churn under TSan)"
# the netns routing-loop check's negative control: the daemon built without the loop drop
cmake -S . -B build-noloop -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWGTUN_TEST_NO_LOOP_DROP=ON >/dev/null
cmake --build build-noloop -j "$jobs" --target wgtun
LOOP_CONTROL_BUILD="$root/build-noloop" bash tests/battery/run.sh "$root/build" --short
bash tests/battery/run.sh "$root/build-asan" --short churn failalloc
if [ -x build-tsan/wgtun ]; then
  bash tests/battery/run.sh "$root/build-tsan" --short churn
fi
step "all tests passed"
