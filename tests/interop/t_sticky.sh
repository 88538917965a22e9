#!/usr/bin/env bash
# Sticky source addresses (docs/sticky.md): B (wgtun) has two addresses on its veth and A's
# peer endpoint for B is the secondary one. B must answer from the address A's packets
# arrived on, not from the route's (primary) source, or A, which roams to the source of
# B's authenticated packets, would see B move to the primary (a NAT or firewall in between
# would drop it instead). Checked over IPv4 and IPv6 after handshake and traffic both ways,
# with A = wgtun and A = wireguard-go. Then B's secondary address goes away while B still
# remembers it: B's next send is refused by its kernel, goes again without the source
# (counted in B's tx_src_refused), and after A's endpoint is set to the primary, traffic flows
# both ways and A sees B at the primary.
WGI_PREFIX=sk # this test's names start with sk
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"

S4_B=10.201.0.12 S6_B=fd01:201::12

# still_at IFACE PUBKEY ENDPOINT B_TUNNEL A_TUNNEL: the endpoint is ENDPOINT now and stays so for 2 s of
# traffic both ways (a reply from the wrong source would move it within a round trip).
still_at() {
	local i
	for i in 1 2 3 4; do
		ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 1 -q "$4" >/dev/null 2>&1 || true
		ip netns exec "$NS_B" ping -c 2 -i 0.2 -W 1 -q "$5" >/dev/null 2>&1 || true
		endpoint_is "$1" "$2" "$3" || return 1
	done
}

sticky() {
	local impl_a=$1 sfx=$2 r0 r1
	# Only A knows an endpoint: B learns A's and its own local address from A's first packet.
	wgi_pair "$impl_a" wgtun a_init "$sfx"
	wgi_log "A = $impl_a ($IF_A), B = wgtun ($IF_B)"
	ip -n "$NS_B" addr add "$S4_B/24" dev "$VETH_B"
	# IPv6 prefers the newest address of a prefix as source: a deprecated one never is
	# picked by the route, yet it still receives and may be asked for as a source.
	ip -n "$NS_B" addr add "$S6_B/64" dev "$VETH_B" nodad preferred_lft 0
	# The route's source towards A is B's primary address in both families (the check that
	# the test means something: without stickiness B's replies would come from it).
	ip -n "$NS_B" route get "$U4_A" | grep -q "src $U4_B" || wgi_fail "B's IPv4 route source is not $U4_B"
	ip -n "$NS_B" -6 route get "$U6_A" | grep -q "src $U6_B" || wgi_fail "B's IPv6 route source is not $U6_B"

	wg set "$IF_A" peer "$PUB_B" endpoint "[$S6_B]:$PORT_B"
	wgi_ping "$NS_A" "$T6_B"
	wgi_ping "$NS_B" "$T6_A"
	still_at "$IF_A" "$PUB_B" "[$S6_B]:$PORT_B" "$T6_B" "$T6_A" ||
		wgi_fail "IPv6: A sees B at '$(endpoint_of "$IF_A" "$PUB_B")', want [$S6_B]:$PORT_B"
	wgi_log "IPv6: A still sees B at its secondary address [$S6_B]:$PORT_B"

	wg set "$IF_A" peer "$PUB_B" endpoint "$S4_B:$PORT_B"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	still_at "$IF_A" "$PUB_B" "$S4_B:$PORT_B" "$T4_B" "$T4_A" ||
		wgi_fail "IPv4: A sees B at '$(endpoint_of "$IF_A" "$PUB_B")', want $S4_B:$PORT_B"
	wgi_log "IPv4: A still sees B at its secondary address $S4_B:$PORT_B"

	# The secondary goes away while B remembers it as its source for A.
	r0=$(wgi_dstat "$IF_B" tx_src_refused)
	ip -n "$NS_B" addr del "$S4_B/24" dev "$VETH_B"
	ip netns exec "$NS_B" ping -c 3 -i 0.2 -W 1 -q "$T4_A" >/dev/null 2>&1 || true
	r1=$(wgi_dstat "$IF_B" tx_src_refused)
	[ "$r1" -gt "$r0" ] || wgi_fail "B's tx_src_refused did not move ($r0 -> $r1)"
	wgi_log "secondary removed: B's tx_src_refused $r0 -> $r1"
	wg set "$IF_A" peer "$PUB_B" endpoint "$U4_B:$PORT_B"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	still_at "$IF_A" "$PUB_B" "$U4_B:$PORT_B" "$T4_B" "$T4_A" ||
		wgi_fail "after the move A sees B at '$(endpoint_of "$IF_A" "$PUB_B")', want $U4_B:$PORT_B"
	wgi_log "traffic recovered, A sees B at $U4_B:$PORT_B"
}

sticky wgtun 1
sticky wggo 2
echo ok
