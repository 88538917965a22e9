#!/usr/bin/env bash
# An idle wgtun gives a burst's buffer pages back (docs/memory.md): wgtun <-> wgtun, 100 MiB
# each way (byte-exact), then with no traffic the daemons' resident memory must fall back near
# where it was before the burst within 30 s (the release rides on the passive keepalive's
# wakeup, 10 s after the last data: no timer of its own), the stats must count the release
# (mem_releases, mem_released_bytes; under a sanitizer only those, see below), and a transfer
# after it must still be byte-exact.
. "$(dirname "$0")/lib.sh"
wgi_init "$1"
XFER="$(dirname "$0")/xfer.py"

# transfer SRC_NS DST_NS DST_ADDR MIB (as t_transfer_100mb: sender's and receiver's SHA-256)
transfer() {
	local src=$1 dst=$2 addr=$3 mib=$4 rlog=$WGI_TMP/recv.out slog=$WGI_TMP/send.out rpid
	: >"$rlog"
	ip netns exec "$dst" "$PY" "$XFER" recv "$addr" 5001 >"$rlog" 2>&1 &
	rpid=$!
	WGI_PIDS+=("$rpid")
	wgi_wait_for 10 grep -q listening "$rlog" || wgi_fail "receiver did not start: $(cat "$rlog")"
	ip netns exec "$src" "$PY" "$XFER" send "$addr" 5001 "$mib" >"$slog" 2>&1 ||
		wgi_fail "sender failed: $(cat "$slog")"
	wait "$rpid" || wgi_fail "receiver failed: $(cat "$rlog")"
	local sent got
	sent=$(tail -n 1 "$slog") got=$(tail -n 1 "$rlog")
	[ "$sent" = "$got" ] || wgi_fail "mismatch: sent '$sent', received '$got'"
	[ "${sent%% *}" = $((mib * 1048576)) ] || wgi_fail "sent only '$sent'"
	wgi_log "$mib MiB to $addr: sha256 matches"
}

kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; } # PID FIELD -> kB

wgi_pair wgtun wgtun both
wgi_ping "$NS_A" "$T4_B"
PA=${WGI_PID_OF[$IF_A]} PB=${WGI_PID_OF[$IF_B]}
idle_a=$(kb "$PA" VmRSS) idle_b=$(kb "$PB" VmRSS)
wgi_log "idle before the burst: A $idle_a kB, B $idle_b kB"
[ "$(wgi_dstat "$IF_B" mem_releases)" = 0 ] || wgi_fail "B gave buffers back before any burst"

transfer "$NS_A" "$NS_B" "$T4_B" 100
transfer "$NS_B" "$NS_A" "$T4_A" 100
busy_a=$(kb "$PA" VmRSS) busy_b=$(kb "$PB" VmRSS)
wgi_log "right after the burst: A $busy_a kB (peak $(kb "$PA" VmHWM)), B $busy_b kB (peak $(kb "$PB" VmHWM))"

# Only meaningful if the burst grew the footprint well past the margin below.
[ $((busy_a + busy_b)) -ge $((idle_a + idle_b + 4096)) ] ||
	wgi_fail "the burst grew RSS by less than 4 MiB (A $idle_a -> $busy_a, B $idle_b -> $busy_b kB): nothing to test"
# Wait (bounded) until both daemons count a release after the burst, asking once a second.
# A release may already have come in the gap between the two transfers (A is idle while the
# second one starts; on a loaded machine that gap can pass 1 s), so count from the figures
# right after the burst (a release needs 1 s of idle and then a wakeup the protocol makes
# anyway, normally the passive keepalive 10 s after the last data: not before these reads).
base_a=$(wgi_dstat "$IF_A" mem_releases) base_b=$(wgi_dstat "$IF_B" mem_releases)
t0=$(date +%s) n_a=$base_a n_b=$base_b
while [ $(( $(date +%s) - t0 )) -lt 30 ]; do
	n_a=$(wgi_dstat "$IF_A" mem_releases) n_b=$(wgi_dstat "$IF_B" mem_releases)
	[ "${n_a:-0}" -gt "${base_a:-0}" ] && [ "${n_b:-0}" -gt "${base_b:-0}" ] && break
	sleep 1
done
[ "${n_a:-0}" -gt "${base_a:-0}" ] && [ "${n_b:-0}" -gt "${base_b:-0}" ] ||
	wgi_fail "no release within 30 s idle after the burst: mem_releases A $base_a -> $n_a, B $base_b -> $n_b"
wgi_log "released after $(( $(date +%s) - t0 )) s idle: A $(kb "$PA" VmRSS) kB, B $(kb "$PB" VmRSS) kB"
for ifc in "$IF_A" "$IF_B"; do
	bytes=$(wgi_dstat "$ifc" mem_released_bytes)
	[ "${bytes:-0}" -ge 1048576 ] || wgi_fail "$ifc: mem_released_bytes=$bytes (< 1 MiB)"
	wgi_log "$ifc: mem_released_bytes=$bytes"
done
# Given back = RSS within 1 MiB of the idle figure before the burst (the batch buffers alone
# grow by several MiB under a bulk transfer; what may stay is heap and stack pages). Under a
# sanitizer the shadow memory of the touched buffers stays mapped (the runtime does not follow
# madvise), so there RSS says nothing about the daemon's own pages: the counters above are
# the check.
if grep -qa -e __tsan_init -e __asan_init "$WGTUN"; then
	wgi_log "sanitizer build: RSS includes shadow memory; checked the release counters only"
else
	[ "$(kb "$PA" VmRSS)" -le $((idle_a + 1024)) ] && [ "$(kb "$PB" VmRSS)" -le $((idle_b + 1024)) ] ||
		wgi_fail "released but RSS stayed: A $(kb "$PA" VmRSS) kB, B $(kb "$PB" VmRSS) kB (before the burst A $idle_a, B $idle_b)"
fi

# The buffers work again after being given back (fresh zero pages).
transfer "$NS_A" "$NS_B" "$T4_B" 20
transfer "$NS_B" "$NS_A" "$T4_A" 20
wgi_ping "$NS_A" "$T4_B"
echo ok
