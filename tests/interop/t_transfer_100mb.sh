#!/usr/bin/env bash
# 100 MiB TCP transfers through the tunnel. wgtun <-> wireguard-go: wgtun sends over IPv4
# inside / IPv4 outside, then wireguard-go sends over IPv6 inside / IPv6 outside; then
# wgtun <-> wgtun over IPv4 inside / IPv6 outside. The byte
# count and SHA-256 computed by the sender must equal the receiver's.
. "$(dirname "$0")/lib.sh"
wgi_init "$1"
XFER="$(dirname "$0")/xfer.py"

# transfer SRC_NS DST_NS DST_ADDR MIB
transfer() {
	local src=$1 dst=$2 addr=$3 mib=$4 rlog=$WGI_TMP/recv.out slog=$WGI_TMP/send.out rpid t0
	: >"$rlog"
	ip netns exec "$dst" "$PY" "$XFER" recv "$addr" 5001 >"$rlog" 2>&1 &
	rpid=$!
	WGI_PIDS+=("$rpid")
	wgi_wait_for 10 grep -q listening "$rlog" || wgi_fail "receiver did not start: $(cat "$rlog")"
	t0=$(date +%s%N)
	ip netns exec "$src" "$PY" "$XFER" send "$addr" 5001 "$mib" >"$slog" 2>&1 ||
		wgi_fail "sender failed: $(cat "$slog")"
	wait "$rpid" || wgi_fail "receiver failed: $(cat "$rlog")"
	local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	local sent got
	sent=$(tail -n 1 "$slog") got=$(tail -n 1 "$rlog")
	[ "$sent" = "$got" ] || wgi_fail "mismatch: sent '$sent', received '$got'"
	[ "${sent%% *}" = $((mib * 1048576)) ] || wgi_fail "sent only '$sent'"
	wgi_log "$mib MiB to $addr: sha256 ${sent#* } matches, $ms ms ($(( mib * 8 * 1000 / (ms > 0 ? ms : 1) )) Mbit/s)"
}

# vnet_hdr NS IFACE: does the TUN have a vnet header (ip -d shows the TUN's flags)?
vnet_hdr() { ip -n "$1" -d link show "$2" | grep -o 'vnet_hdr [a-z]*'; }
wgi_pair wgtun wggo a_init
wgi_ping "$NS_A" "$T4_B"
# The daemon maps WGTUN_NO_OFFLOAD (t_offload_off) to a plain TUN, else it asks for offloads.
want="vnet_hdr on"
[ -n "${WGTUN_NO_OFFLOAD:-}" ] && [ "$WGTUN_NO_OFFLOAD" != 0 ] && want="vnet_hdr off"
[ "$(vnet_hdr "$NS_A" "$IF_A")" = "$want" ] ||
	wgi_fail "wgtun's TUN: '$(vnet_hdr "$NS_A" "$IF_A")', expected '$want'"
transfer "$NS_A" "$NS_B" "$T4_B" 100

wg set "$IF_A" peer "$PUB_B" endpoint "[$U6_B]:$PORT_B"
wgi_ping "$NS_B" "$T6_A"
transfer "$NS_B" "$NS_A" "$T6_A" 100
wgi_pair wgtun wgtun both 2
wg set "$IF_A" peer "$PUB_B" endpoint "[$U6_B]:$PORT_B"
wgi_ping "$NS_A" "$T4_B"
transfer "$NS_A" "$NS_B" "$T4_B" 100
echo ok
