#!/usr/bin/env bash
# Runs every tests/interop/t_*.sh (standalone bash scripts taking BUILD_DIR as $1; exit 0 =
# pass) one after the other, prints a line per test with its time, then "N passed, N failed".
# Exits non-zero if any failed. Needs root (network namespaces). Optional: ONLY=glob to run a
# subset (e.g. ONLY='t_rekey*'), INTEROP_TIMEOUT=seconds per test (default 300).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR}
build=$(cd "$build" && pwd)
per_test=${INTEROP_TIMEOUT:-300}
passed=0 failed=0 failures=()
for t in "$here"/${ONLY:-t_*.sh}; do
	[ -f "$t" ] || continue
	name=$(basename "$t" .sh)
	log=$(mktemp "/tmp/interop-$name.XXXXXX")
	start=$(date +%s%N)
	# timeout sends SIGTERM first: the test's trap still cleans up what it created.
	timeout -k 20 "$per_test" bash "$t" "$build" >"$log" 2>&1
	rc=$?
	secs=$(( ($(date +%s%N) - start) / 1000000 ))
	secs=$(printf '%d.%01d' $((secs / 1000)) $((secs % 1000 / 100)))
	if [ "$rc" -eq 0 ]; then
		printf 'PASS %-28s %6ss\n' "$name" "$secs"
		passed=$((passed + 1))
	else
		printf 'FAIL %-28s %6ss (exit %d)\n' "$name" "$secs" "$rc"
		sed 's/^/    | /' "$log"
		failed=$((failed + 1))
		failures+=("$name")
	fi
	rm -f "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
