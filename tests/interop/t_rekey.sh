#!/usr/bin/env bash
# Rekey with the real timers (REKEY_AFTER_TIME = 120 s; the production binary, no test-only
# build): three tunnels run side by side under a steady ping so that one wait covers
#   1. wgtun initiator -> wireguard-go: wgtun must start the new handshake itself,
#   2. wireguard-go initiator -> wgtun: wgtun must answer it and move to the new keys,
#   3. wgtun <-> wgtun.
# Only the session's initiator rekeys on time, and in these pairs only A knows an endpoint,
# so A is the initiator. Each tunnel must show a newer latest-handshake on both ends within
# 120 s + slack, and the ping across the rekey must lose (almost) nothing.
# interop: background
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"

declare -a names ifa ifb puba pubb t0 pings
setup() { # setup NAME IMPL_A IMPL_B SUFFIX
	wgi_pair "$2" "$3" a_init "$4"
	wgi_ping "$NS_A" "$T4_B"
	wgi_wait_handshake "$IF_B" "$PUB_A" 10
	names+=("$1") ifa+=("$IF_A") ifb+=("$IF_B") puba+=("$PUB_A") pubb+=("$PUB_B")
	t0+=("$(wgi_handshake_time "$IF_A" "$PUB_B")")
	ip netns exec "$NS_A" ping -i 0.5 -W 2 -w 170 "$T4_B" >"$WGI_TMP/ping-$4.out" 2>&1 &
	WGI_PIDS+=("$!")
	pings+=("$!")
}
setup "wgtun initiator, wireguard-go responder" wgtun wggo 1
setup "wireguard-go initiator, wgtun responder" wggo wgtun 2
setup "wgtun <-> wgtun" wgtun wgtun 3
wgi_log "sessions established at ${t0[*]}; waiting for the time-based rekey (120 s)"

rekeyed() { # rekeyed I: both ends show a handshake at least 100 s after the first one
	local a b
	a=$(wgi_handshake_time "${ifa[$1]}" "${pubb[$1]}")
	b=$(wgi_handshake_time "${ifb[$1]}" "${puba[$1]}")
	[ "$a" -ge $((t0[$1] + 100)) ] && [ "$b" -ge $((t0[$1] + 100)) ]
}
deadline=$(( $(date +%s) + 160 ))
for i in 0 1 2; do
	while ! rekeyed "$i"; do
		[ "$(date +%s)" -lt "$deadline" ] ||
			wgi_fail "${names[$i]}: no rekey: handshakes $(wgi_handshake_time "${ifa[$i]}" "${pubb[$i]}") / $(wgi_handshake_time "${ifb[$i]}" "${puba[$i]}"), first ${t0[$i]}"
		sleep 1
	done
	wgi_log "${names[$i]}: rekeyed after $(( $(wgi_handshake_time "${ifa[$i]}" "${pubb[$i]}") - t0[i] )) s"
done
# In tunnel 1 the new handshake came from wgtun: wireguard-go logged two initiations received.
n=$(grep -c 'Received handshake initiation' "$(wgi_logfile "${ifb[0]}")" || true)
[ "$n" -ge 2 ] || wgi_fail "wireguard-go received $n initiations from wgtun, want >= 2 (did wgtun rekey?)"
sleep 3 # a few pings on the new keys
for i in 0 1 2; do
	kill -INT "${pings[$i]}" 2>/dev/null || true
	wait "${pings[$i]}" 2>/dev/null || true
	sfx=$((i + 1))
	sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$WGI_TMP/ping-$sfx.out")
	got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WGI_TMP/ping-$sfx.out")
	[ -n "$sent" ] && [ "$sent" -ge 200 ] || wgi_fail "${names[$i]}: ping did not run ($(tail -n 2 "$WGI_TMP/ping-$sfx.out"))"
	# The old keys stay valid during the rekey: allow 2 losses for a loaded machine.
	[ $((sent - got)) -le 2 ] || wgi_fail "${names[$i]}: $((sent - got)) of $sent pings lost across the rekey"
	wgi_log "${names[$i]}: $got/$sent pings answered across the rekey"
	kill -0 "${WGI_PID_OF[${ifa[$i]}]}" && kill -0 "${WGI_PID_OF[${ifb[$i]}]}" || wgi_fail "a daemon died"
done
echo ok
