#!/usr/bin/env bash
# Interface MTU changes at run time: with MTU 1280, 8000 and back
# to 1420 on both ends, full-size unfragmentable pings (-M do) pass both ways, and one byte more
# is refused locally; wgtun <-> wireguard-go and wgtun <-> wgtun. Outer datagrams larger than
# the veth MTU are fragmented by the kernel and must still arrive.
. "$(dirname "$0")/lib.sh"
wgi_init "$1"

check_mtus() {
	local mtu s
	for mtu in 1280 8000 1420; do
		ip -n "$NS_A" link set "$IF_A" mtu "$mtu"
		ip -n "$NS_B" link set "$IF_B" mtu "$mtu"
		s=$((mtu - 28))
		wgi_wait_for 10 ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 2 -M do -s "$s" "$T4_B" ||
			wgi_fail "MTU $mtu: ${s}-byte ping A->B failed"
		wgi_wait_for 10 ip netns exec "$NS_B" ping -c 2 -i 0.2 -W 2 -M do -s "$s" "$T4_A" ||
			wgi_fail "MTU $mtu: ${s}-byte ping B->A failed"
		wgi_wait_for 10 ip netns exec "$NS_A" ping -c 2 -i 0.2 -W 2 -M do -s $((mtu - 48)) "$T6_B" ||
			wgi_fail "MTU $mtu: full-size IPv6 ping A->B failed"
		ip netns exec "$NS_A" ping -c 1 -W 1 -M do -s $((s + 1)) "$T4_B" >/dev/null 2>&1 &&
			wgi_fail "MTU $mtu: a ping larger than the MTU went through with DF"
		wgi_log "$1: MTU $mtu: ${s}-byte pings pass both ways"
	done
}

wgi_pair wgtun wggo both 1
wgi_ping "$NS_A" "$T4_B"
check_mtus "wgtun <-> wireguard-go"
wgi_pair wgtun wgtun both 2
wgi_ping "$NS_A" "$T4_B"
check_mtus "wgtun <-> wgtun"
echo ok
