#!/usr/bin/env bash
# Roaming: side B's underlay address changes (new address added, old one deleted) and then its
# listen port; traffic from B must keep flowing and A's `wg show endpoints` must follow each
# move, after which A reaches B at the new place. Run twice: wgtun following a roaming
# wireguard-go, and wireguard-go following a roaming wgtun (which must also stop using the
# deleted source address). B is the roamer; a background ping from B runs across the moves.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"

# roam IMPL_A IMPL_B SUFFIX NEW_ADDR NEW_PORT: when B is wireguard-go the address move comes
# with a port change, because wireguard-go 0.0.20220316 keeps sending from its cached (now
# deleted) source address until a handshake timer clears it (~15 s); a rebind clears it at once.
roam() {
	local new=$4 newport=$5 bgp replies
	wgi_pair "$1" "$2" both "$3"
	wgi_log "$1 ($IF_A) follows $2 ($IF_B)"
	wgi_ping "$NS_B" "$T4_A"
	wgi_wait_for 5 endpoint_is "$IF_A" "$PUB_B" "$U4_B:$PORT_B" || wgi_fail "initial endpoint"
	ip netns exec "$NS_B" ping -i 0.1 -W 1 -w 40 "$T4_A" >"$WGI_TMP/bgping.out" 2>&1 &
	bgp=$!
	WGI_PIDS+=("$bgp")
	sleep 0.5

	# Without promote_secondaries deleting the old (primary) address takes the new one along.
	ip netns exec "$NS_B" sysctl -qw "net.ipv4.conf.$VETH_B.promote_secondaries=1"
	ip -n "$NS_B" addr add "$new/24" dev "$VETH_B"
	ip -n "$NS_B" addr del "$U4_B/24" dev "$VETH_B"
	if [ "$2" = wggo ]; then
		wg set "$IF_B" listen-port "$newport"
		PORT_B=$newport
	fi
	wgi_wait_for 15 endpoint_is "$IF_A" "$PUB_B" "$new:$PORT_B" ||
		wgi_fail "A's endpoint for B is '$(endpoint_of "$IF_A" "$PUB_B")', want $new:$PORT_B"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_A" "$T6_B"
	wgi_log "address move followed: $new:$PORT_B"

	wg set "$IF_B" listen-port 40123
	wg show "$IF_B" listen-port | grep -qx 40123 || wgi_fail "B did not take listen-port 40123"
	wgi_wait_for 15 endpoint_is "$IF_A" "$PUB_B" "$new:40123" ||
		wgi_fail "A's endpoint for B is '$(endpoint_of "$IF_A" "$PUB_B")', want $new:40123"
	wgi_ping "$NS_A" "$T4_B"
	wgi_log "port move followed: $new:40123"

	sleep 1
	kill -INT "$bgp" 2>/dev/null || true
	wait "$bgp" 2>/dev/null || true
	replies=$(grep -c 'bytes from' "$WGI_TMP/bgping.out" || true)
	# The moves cost a few packets at most; most of the stream must have come back.
	[ "$replies" -ge 20 ] || wgi_fail "background ping got only $replies replies: $(tail -n 3 "$WGI_TMP/bgping.out")"
	wgi_log "background ping: $(tail -n 2 "$WGI_TMP/bgping.out" | head -n 1)"
}

roam wggo wgtun 2 10.201.0.4 41000
roam wgtun wggo 1 10.201.0.3 41001
echo ok
