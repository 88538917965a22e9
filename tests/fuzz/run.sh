#!/usr/bin/env bash
# Runs every libFuzzer harness in BUILD_DIR for SECONDS each, seeded from
# tests/fuzz/corpus/<name>/ (copied to a scratch dir so runs never modify the checked-in seeds).
# Fails on the first crash, leak, timeout or sanitizer report, and when a harness of
# tests/fuzz/fuzz_*.c was not built (zero or too few harnesses must not pass as fuzzed).
set -euo pipefail
build=${1:?build dir}
secs=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
found=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  found=$((found + 1))
  name=$(basename "$bin")
  work=$(mktemp -d)
  [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$work/"
  echo "fuzz: $name for ${secs}s"
  dict=()
  [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
  if ! "$bin" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 "$work" >"$work.log" 2>&1; then
    tail -n 60 "$work.log"
    echo "fuzz: $name FAILED" >&2
    rm -rf "$work" "$work.log"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$work.log" || true
  rm -rf "$work" "$work.log"
done
if [ "$found" = 0 ]; then
  echo "fuzz: no harnesses built in $build (configure with -DWGTUN_FUZZ=ON and clang)" >&2
  exit 1
fi
# every harness source must have run: a build that silently drops one is not "fuzzed"
missing=()
for src in "$here"/fuzz_*.c; do
  name=$(basename "$src" .c)
  [ -x "$build/$name" ] || missing+=("$name")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "fuzz: harnesses not built: ${missing[*]}" >&2
  exit 1
fi
echo "fuzz: $found harnesses ran ${secs}s each, no failure"
