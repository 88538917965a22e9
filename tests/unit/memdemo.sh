#!/usr/bin/env bash
# The in-memory demo (used by the README's demo until the daemon exists) runs and shows a
# handshake (148 + 92 bytes), transport data, the 10 s keepalive and a rekey; bad flags exit 2.
set -euo pipefail
build=${1:?build dir}
out=$("$build/wgtun-memdemo" --bench-seconds 0.2)
fail() { echo "memdemo: $1"; echo "$out"; exit 1; }
grep -q 'A -> B: handshake initiation, 148 bytes' <<<"$out" || fail "no initiation"
grep -q 'B -> A: handshake response, 92 bytes' <<<"$out" || fail "no response"
[ "$(grep -c 'handshake initiation, 148 bytes' <<<"$out")" = 2 ] || fail "no rekey"
grep -q '\[  10.000s\] B -> A: keepalive, 32 bytes' <<<"$out" || fail "no keepalive"
grep -q 'A: tx 2164 bytes, rx 344 bytes, dropped 0' <<<"$out" || fail "byte counters"
grep -Eq '^throughput: [0-9]+ packets' <<<"$out" || fail "no throughput line"
rc=0
"$build/wgtun-memdemo" --bogus 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "bad flag exit $rc"
echo "memdemo: ok"
