#!/usr/bin/env bash
# Long fuzzing campaign: every libFuzzer harness in BUILD (default build-fuzz, built with
# -DWGTUN_FUZZ=ON) for HOURS of wall time in total, JOBS harnesses at a time (default: the
# number of cores), niced. Each harness gets an equal share of JOBS x HOURS CPU-hours.
# Crashes do not stop a harness (libFuzzer fork mode): every crash, leak, timeout and OOM is
# kept in OUT/crashes/<harness>/; the grown corpus in OUT/corpus/<harness>/ (seeded from
# tests/fuzz/corpus/, which is never modified) is reused by the next campaign.
#   scripts/fuzz-long.sh HOURS [JOBS]      e.g. scripts/fuzz-long.sh 8
# Env: BUILD (build-fuzz), OUT (BUILD/long), ONLY (glob of harness names, default fuzz_*).
# At the end it prints per harness: wall and CPU seconds, executions, crash files; and the total
# CPU-hours actually used (niced harnesses on a busy machine get less than their wall time).
# To keep what it found as seeds: build-fuzz/fuzz_X -merge=1 tests/fuzz/corpus/fuzz_X OUT/corpus/fuzz_X
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:?usage: fuzz-long.sh HOURS [JOBS]}
jobs=${2:-$(nproc)}
build=${BUILD:-build-fuzz}
out=${OUT:-$build/long}
seeds=tests/fuzz/corpus

if ! ls "$build"/${ONLY:-fuzz_*} >/dev/null 2>&1; then
  echo "no harnesses in $build: cmake -S . -B $build -DWGTUN_FUZZ=ON -DCMAKE_C_COMPILER=clang && cmake --build $build" >&2
  exit 1
fi
harnesses=()
for b in "$build"/${ONLY:-fuzz_*}; do [ -x "$b" ] && harnesses+=("$(basename "$b")"); done
n=${#harnesses[@]}
# Each harness's share of the CPU time, in seconds (at least one minute).
share=$(awk -v h="$hours" -v j="$jobs" -v n="$n" 'BEGIN { s = int(h * 3600 * j / n); print (s < 60 ? 60 : s) }')
echo "fuzz-long: $n harnesses, ${share}s each, $jobs at a time, output in $out"
mkdir -p "$out/corpus" "$out/crashes" "$out/logs"

run_one() {
  local name=$1 corpus="$out/corpus/$1" crashes="$out/crashes/$1" dict=()
  mkdir -p "$corpus" "$crashes"
  [ -d "$seeds/$name" ] && cp -rn "$seeds/$name/." "$corpus/" 2>/dev/null || true
  [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
  local t TIMEFORMAT='%R %U %S' # wall, user and system seconds (children included)
  t=$( { time nice -n 19 "$build/$name" "${dict[@]}" -fork=1 -ignore_crashes=1 \
      -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$share" -timeout=20 \
      -rss_limit_mb=2048 -artifact_prefix="$crashes/" -print_final_stats=1 "$corpus" \
      >"$out/logs/$name.log" 2>&1 || true; } 2>&1 )
  echo "$name $t" >>"$out/logs/times"
}
export -f run_one
export build out seeds share
: >"$out/logs/times"
printf '%s\n' "${harnesses[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}

printf '%-24s %8s %8s %14s %8s\n' harness wall_s cpu_s executions crashes
for name in "${harnesses[@]}"; do
  read -r wall cpu < <(awk -v n="$name" '$1 == n { printf "%d %d\n", $2, $3 + $4 }' \
                         "$out/logs/times" | tail -n 1)
  execs=$(grep -oE '^#[0-9]+' "$out/logs/$name.log" | tail -n 1 | tr -d '#' || true)
  ncrash=$(find "$out/crashes/$name" -type f | wc -l)
  printf '%-24s %8s %8s %14s %8s\n' "$name" "${wall:-0}" "${cpu:-0}" "${execs:-?}" "$ncrash"
done
awk '{ c += $3 + $4 } END { printf "total: %.2f CPU-hours (user+system, all harnesses)\n", c / 3600 }' \
  "$out/logs/times"
if find "$out/crashes" -type f | grep -q .; then
  echo "fuzz-long: crashes kept in $out/crashes/ (reproduce: $build/NAME FILE)"
  exit 1
fi
