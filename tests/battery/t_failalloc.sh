#!/usr/bin/env bash
# Allocation failure at every allocation of device setup (battery_failalloc): run N fails the
# Nth allocation (library and OpenSSL), for N = 1.. until setup no longer reaches N. Every
# failure must surface as -errno, leave nothing half-applied, close every fd; with an ASan
# build LeakSanitizer checks that nothing leaked. Then the same over a runtime `set` on a
# running device (new key, peers added/removed, allowed IPs replaced, PSKs): a failed set
# leaves `get` byte-identical. Same size in --short and --long (a sweep).
BAT_NAME=failalloc
source "$(dirname "$0")/lib.sh"
out=$(ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 timeout 600 "$BUILD/battery_failalloc" "$T" 2>"$T/failalloc.log") \
  || fail "$(tail -30 "$T/failalloc.log")"
check_sanitizers
n=$(sed 's/.*allocations_failed=\([0-9]*\).*/\1/' <<<"$out")
[ "$n" -ge 50 ] || fail "only $n allocations seen: the wrapping does not work ($out)"
rf=$(sed 's/.*runtime_set_failed=\([0-9]*\).*/\1/' <<<"$out")
[[ "$rf" =~ ^[0-9]+$ ]] && [ "$rf" -ge 20 ] || fail "runtime sweep: only '$rf' failed sets ($out)"
result "$out"
