#!/usr/bin/env bash
# Runs every unit-test executable of BUILD_DIR (a normal, non-sanitizer build) under valgrind
# memcheck: any memory error or leak (definite, indirect or possible) fails it.
# tests/valgrind.supp holds 3 suppressions, each with its reason: the constant-time check's
# public verdicts inside OpenSSL (docs/constant-time.md); a new one goes there the same way. (To chase an uninitialised value, rerun the
# one test by hand with --track-origins=yes.)
#   scripts/valgrind.sh BUILD_DIR [JOBS]
set -euo pipefail
build=${1:?usage: valgrind.sh BUILD_DIR [JOBS]}
jobs=${2:-${JOBS:-2}}
here=$(cd "$(dirname "$0")/.." && pwd)
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

run_one() { # test binary -> 0 / non-zero, log in $logs
  local t=$1 name supp=()
  name=$(basename "$t")
  [ -f "$here/tests/valgrind.supp" ] && supp=(--suppressions="$here/tests/valgrind.supp")
  if timeout 900 valgrind -q --error-exitcode=99 --leak-check=full \
       --show-leak-kinds=definite,indirect,possible \
       --errors-for-leak-kinds=definite,indirect,possible \
       --num-callers=30 "${supp[@]}" "$t" >"$logs/$name.log" 2>&1; then
    echo "valgrind: $name ok"
  else
    echo "valgrind: $name FAILED (exit $?)"
    sed 's/^/    | /' "$logs/$name.log" | tail -n 80
    return 1
  fi
}
export -f run_one
export logs here

tests=("$build"/test_*)
[ -x "${tests[0]}" ] || { echo "valgrind: no test_* executables in $build" >&2; exit 1; }
# Unit tests find their vectors by absolute path, so any working directory works.
printf '%s\n' "${tests[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one "$@"' _ {}
