# basic.inc.sh: the scenario behind t_pair_*.sh (sourced after lib.sh).
# basic_scenario IMPL_A IMPL_B MODE: handshake, IPv4 and IPv6 inside the tunnel both ways, over
# an IPv4 and then an IPv6 underlay; the endpoints learnt from authenticated packets; byte
# counters that agree across the two ends.

# endpoint_of IFACE PUBKEY
endpoint_of() { wg show "$1" endpoints | awk -v k="$2" '$1 == k { print $2 }'; }
endpoint_is() { [ "$(endpoint_of "$1" "$2")" = "$3" ]; }

# Prints "tx rx" of PUBKEY on IFACE.
transfer_of() { wg show "$1" transfer | awk -v k="$2" '$1 == k { print $3, $2 }'; }

counters_agree() {
	local a b
	read -r atx arx < <(transfer_of "$IF_A" "$PUB_B")
	read -r btx brx < <(transfer_of "$IF_B" "$PUB_A")
	[ "$atx" = "$brx" ] && [ "$arx" = "$btx" ]
}

basic_scenario() {
	local impl_a=$1 impl_b=$2 mode=$3 first_ns first_dst
	wgi_pair "$impl_a" "$impl_b" "$mode"
	if [ -n "${WGI_PSK:-}" ]; then
		wg show "$IF_A" preshared-keys | grep -q "	$WGI_PSK$" || wgi_fail "PSK not set on A"
		wg show "$IF_B" preshared-keys | grep -q "	$WGI_PSK$" || wgi_fail "PSK not set on B"
	fi
	if [ "$mode" = b_init ]; then first_ns=$NS_B first_dst=$T4_A; else first_ns=$NS_A first_dst=$T4_B; fi
	wgi_log "$impl_a ($IF_A) <-> $impl_b ($IF_B), mode $mode: first ping"
	wgi_ping "$first_ns" "$first_dst"
	# wgtun deepens its TUN's transmit queue (DEVICE_TUN_TXQUEUE; the kernel's default is 500).
	local ifc q
	for ifc in "$IF_A" "$IF_B"; do
		[ "${WGI_IMPL_OF[$ifc]}" = wgtun ] || continue
		q=$(ip netns exec "${WGI_NS_OF[$ifc]}" cat "/sys/class/net/$ifc/tx_queue_len")
		[ "$q" = 1024 ] || wgi_fail "$ifc txqueuelen $q, want 1024"
	done
	wgi_wait_handshake "$IF_A" "$PUB_B" 10
	wgi_wait_handshake "$IF_B" "$PUB_A" 10
	# latest-handshake is wall-clock time.
	local hs now
	hs=$(wgi_handshake_time "$IF_A" "$PUB_B") now=$(date +%s)
	[ $((now - hs)) -ge 0 ] && [ $((now - hs)) -le 15 ] || wgi_fail "A's latest handshake $hs is not near now ($now)"
	hs=$(wgi_handshake_time "$IF_B" "$PUB_A")
	[ $((now - hs)) -ge -1 ] && [ $((now - hs)) -le 15 ] || wgi_fail "B's latest handshake $hs is not near now ($now)"
	# The responder learnt its peer's endpoint from the handshake alone.
	wgi_wait_for 5 endpoint_is "$IF_B" "$PUB_A" "$U4_A:$PORT_A" ||
		wgi_fail "B's endpoint for A is '$(endpoint_of "$IF_B" "$PUB_A")', want $U4_A:$PORT_A"
	wgi_wait_for 5 endpoint_is "$IF_A" "$PUB_B" "$U4_B:$PORT_B" ||
		wgi_fail "A's endpoint for B is '$(endpoint_of "$IF_A" "$PUB_B")', want $U4_B:$PORT_B"

	wgi_log "IPv4 and IPv6 inside, IPv4 outside"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	wgi_ping "$NS_A" "$T6_B"
	wgi_ping "$NS_B" "$T6_A"

	wgi_log "switch the underlay to IPv6"
	if [ "$mode" = b_init ]; then
		wg set "$IF_B" peer "$PUB_A" endpoint "[$U6_A]:$PORT_A"
		wgi_ping "$NS_B" "$T6_A"
	else
		wg set "$IF_A" peer "$PUB_B" endpoint "[$U6_B]:$PORT_B"
		wgi_ping "$NS_A" "$T6_B"
	fi
	wgi_wait_for 5 endpoint_is "$IF_B" "$PUB_A" "[$U6_A]:$PORT_A" ||
		wgi_fail "B's endpoint for A is '$(endpoint_of "$IF_B" "$PUB_A")', want [$U6_A]:$PORT_A"
	wgi_wait_for 5 endpoint_is "$IF_A" "$PUB_B" "[$U6_B]:$PORT_B" ||
		wgi_fail "A's endpoint for B is '$(endpoint_of "$IF_A" "$PUB_B")', want [$U6_B]:$PORT_B"
	wgi_log "IPv4 and IPv6 inside, IPv6 outside"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	wgi_ping "$NS_A" "$T6_B"
	wgi_ping "$NS_B" "$T6_A"
	# Large packets (fragmented inner IPv4, full-MTU inner IPv6) arrive intact.
	ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 -s 3000 "$T4_B" >/dev/null || wgi_fail "ping -s 3000 v4"
	ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 -s 1372 -M do "$T6_B" >/dev/null || wgi_fail "ping -s 1372 v6 (MTU 1420)"

	# What one end sent is what the other received (both count every WireGuard message).
	wgi_wait_for 10 counters_agree ||
		wgi_fail "transfer counters disagree: A tx/rx $(transfer_of "$IF_A" "$PUB_B"), B tx/rx $(transfer_of "$IF_B" "$PUB_A")"
	read -r atx arx < <(transfer_of "$IF_A" "$PUB_B")
	[ "$atx" -gt 1000 ] && [ "$arx" -gt 1000 ] || wgi_fail "counters too small: $atx $arx"
	wgi_log "counters A tx $atx rx $arx agree with B"
	kill -0 "${WGI_PID_OF[$IF_A]}" && kill -0 "${WGI_PID_OF[$IF_B]}" || wgi_fail "a daemon died"
}
