#!/usr/bin/env bash
# The fault and security battery (issue 6): hostile traffic, floods, reconfiguration churn,
# failure injection, netns scenarios and security properties, against the daemon of BUILD_DIR.
#
#   bash tests/battery/run.sh BUILD_DIR [--short|--long] [--pin] [TEST...]
#
# --short (default, CI: a few minutes) or --long (the issue's full sizes). --pin: the flood
# test's pinned mode (FLOOD_PIN=1: attacker on one CPU, the legitimate path on another; see
# t_flood.sh). TEST names pick
# tests (garbage flood churn failalloc ioerrors netns secrets audit); default: all. Needs root
# (network namespaces). Each test prints a "RESULT name: ..." line with its figures; the
# summary repeats them. Exit status is non-zero if any test failed.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [--short|--long] [--pin] [TEST...]" >&2; exit 2; }
build=$(cd "$1" && pwd) || exit 2
shift
mode=short
tests=()
for a in "$@"; do
  case $a in
    --short) mode=short ;;
    --long) mode=long ;;
    --pin) export FLOOD_PIN=1 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) tests+=("$a") ;;
  esac
done
[ ${#tests[@]} -gt 0 ] || tests=(garbage flood churn failalloc ioerrors netns secrets audit)
[ "$(id -u)" = 0 ] || { echo "battery: needs root (network namespaces)" >&2; exit 2; }
[ -x "$build/wgtun" ] && [ -x "$build/battery_tool" ] || { echo "battery: build $build first" >&2; exit 2; }

failed=() results=() pid=
# an interrupted run stops the running test (its trap removes namespaces and processes)
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait; exit 130' INT TERM
for t in "${tests[@]}"; do
  script=$here/t_$t.sh
  [ -f "$script" ] || { echo "battery: no test $t" >&2; failed+=("$t"); continue; }
  printf '\n==== battery %s (%s, %s) ====\n' "$t" "$mode" "$build"
  start=$(date +%s)
  logf=$(mktemp /tmp/wgf-battery-log.XXXXXX)
  BUILD=$build MODE=$mode bash "$script" >"$logf" 2>&1 &
  pid=$!
  tail -n +1 -f --pid=$pid "$logf" &
  wait "$pid"; rc=$?
  wait 2>/dev/null
  out=$(grep '^RESULT ' "$logf")
  rm -f "$logf"
  secs=$(( $(date +%s) - start ))
  [ -n "$out" ] || rc=1
  if [ "$rc" = 0 ]; then results+=("$out (${secs}s)"); else failed+=("$t"); fi
done
printf '\n==== battery summary (%s) ====\n' "$mode"
for r in "${results[@]}"; do printf '%s\n' "$r"; done
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[*]}"
  exit 1
fi
echo "battery: all passed"
