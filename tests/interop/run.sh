#!/usr/bin/env bash
# Runs every tests/interop/t_*.sh (standalone bash scripts taking BUILD_DIR as $1; exit 0 =
# pass), prints a line per test with its time, then "N passed, N failed". Exits non-zero if
# any failed. Needs root (network namespaces). Optional: ONLY=globs (space-separated) to run
# a subset (e.g. ONLY='t_rekey* t_pair_*'; a glob matching no test is an error, so a renamed
# test cannot drop out silently), INTEROP_TIMEOUT=seconds per test (default 300). The
# environment reaches every test (e.g. WGTUN_NO_OFFLOAD=1: lib.sh then checks each wgtun it
# starts really runs without offloads).
#
# Tests run one after the other, except those with a line "# interop: background" near the
# top: they mostly wait on protocol timers (t_rekey waits 120 s), so they start first, run
# alongside the others (names never collide: every test uses its PID) and are reported at
# the end. That keeps the suite about two minutes shorter.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: run.sh BUILD_DIR}
build=$(cd "$build" && pwd)
per_test=${INTEROP_TIMEOUT:-300}
passed=0 failed=0
tmp=$(mktemp -d /tmp/interop-run.XXXXXX)
bg_pids=()
# On exit (also interrupted) stop the tests still running, through their timeout process,
# which passes SIGTERM on: each test's own trap then cleans up its namespaces and daemons.
stop_all() {
	local f
	for f in "$tmp"/*.pid; do
		[ -f "$f" ] && kill -TERM "$(cat "$f")" 2>/dev/null
	done
	wait
	rm -rf "$tmp"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_one NAME SCRIPT: runs it, leaves "rc ms" in $tmp/NAME.res and its output in $tmp/NAME.log.
run_one() {
	local start rc
	start=$(date +%s%N)
	# timeout sends SIGTERM first: the test's trap still cleans up what it created.
	timeout -k 20 "$per_test" bash "$2" "$build" >"$tmp/$1.log" 2>&1 &
	echo "$!" >"$tmp/$1.pid"
	wait "$!"
	rc=$?
	rm -f "$tmp/$1.pid"
	echo "$rc $(( ($(date +%s%N) - start) / 1000000 ))" >"$tmp/$1.res"
}

report() { # report NAME
	local rc ms secs
	read -r rc ms <"$tmp/$1.res"
	secs=$(printf '%d.%01d' $((ms / 1000)) $((ms % 1000 / 100)))
	if [ "$rc" -eq 0 ]; then
		printf 'PASS %-28s %6ss\n' "$1" "$secs"
		passed=$((passed + 1))
	else
		printf 'FAIL %-28s %6ss (exit %d)\n' "$1" "$secs" "$rc"
		sed 's/^/    | /' "$tmp/$1.log"
		failed=$((failed + 1))
	fi
}

bg_names=() fg=()
tests=()
set -f
for glob in ${ONLY:-t_*}; do
	set +f
	n=0
	for t in "$here"/$glob; do
		[[ $t == *.sh ]] || t=${t%.sh}.sh
		[ -f "$t" ] || continue
		case " ${tests[*]} " in *" $t "*) continue ;; esac
		tests+=("$t")
		n=$((n + 1))
	done
	[ "$n" -gt 0 ] || { echo "run.sh: ONLY glob '$glob' matches no test" >&2; exit 2; }
	set -f
done
set +f
for t in "${tests[@]}"; do
	if head -n 20 "$t" | grep -q '^# interop: background'; then
		name=$(basename "$t" .sh)
		run_one "$name" "$t" &
		bg_pids+=("$!")
		bg_names+=("$name")
	else
		fg+=("$t")
	fi
done
for t in "${fg[@]}"; do
	name=$(basename "$t" .sh)
	run_one "$name" "$t"
	report "$name"
done
for i in "${!bg_names[@]}"; do
	wait "${bg_pids[$i]}"
	report "${bg_names[$i]}"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
