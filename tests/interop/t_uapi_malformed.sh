#!/usr/bin/env bash
# Malformed UAPI requests straight to the sockets of wgtun and wireguard-go configured alike:
# same negative errno from both, and wgtun's get=1 output unchanged (see uapi_malformed.py);
# then a listen_port already taken by another socket: -98 (EADDRINUSE) from both, and
# wgtun keeps its old port, still working.
. "$(dirname "$0")/lib.sh"
wgi_init "$1"
wgi_side_by_side
KEY=$(wgi_genkey)
PEER=$(wgi_pubkey "$(wgi_genkey)")
PEER_HEX=$(printf '%s' "$PEER" | base64 -d | od -An -tx1 -v | tr -d ' \n')
for i in "$IF_T" "$IF_G"; do
	wg set "$i" private-key <(echo "$KEY") listen-port 51999 \
		peer "$PEER" preshared-key <(wg genpsk) endpoint 192.0.2.1:51820 \
		allowed-ips 10.7.0.0/16,fd07::/64
done
"$PY" "$(dirname "$0")/uapi_malformed.py" "$IF_T" "$IF_G" "$PEER_HEX" || wgi_fail "malformed UAPI requests"

# Links up: wgtun opens its sockets only then, as the kernel's device does (while down a
# listen_port is only stored: docs/linkstate.md); wireguard-go is up from its start.
for i in "$IF_T" "$IF_G"; do
	ip -n "${WGI_NS_OF[$i]}" link set "$i" up
done
wgi_wait_for 5 bash -c "ip netns exec $NS_T ss -Hlun 'sport = :51998' | grep -q ." ||
	wgi_fail "wgtun did not open 51998 when its link came up"
# A UDP socket holds port 51990 in each namespace.
for ns in "$NS_T" "$NS_G"; do
	ip netns exec "$ns" "$PY" -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", 51990)); print("bound", flush=True); time.sleep(60)' >"$WGI_TMP/hold-$ns" 2>&1 &
	WGI_PIDS+=("$!")
	wgi_wait_for 10 grep -q bound "$WGI_TMP/hold-$ns" || wgi_fail "could not hold port 51990"
done
before=$(printf 'get=1\n\n' | wgi_uapi "$IF_T")
for i in "$IF_T" "$IF_G"; do
	r=$(printf 'set=1\nlisten_port=51990\n\n' | wgi_uapi "$i")
	[ "$r" = "errno=-98" ] || wgi_fail "$i (${WGI_IMPL_OF[$i]}): listen_port in use gave '$r', want errno=-98"
done
after=$(printf 'get=1\n\n' | wgi_uapi "$IF_T")
[ "$before" = "$after" ] || wgi_fail "wgtun changed on a failed rebind: $before --- $after"
wg show "$IF_T" listen-port | grep -qx 51998 || wgi_fail "wgtun lost its port: $(wg show "$IF_T" listen-port)"
ip netns exec "$NS_T" ss -Hulpn | grep -q ':51998 ' || wgi_fail "wgtun's socket on 51998 is gone: $(ip netns exec "$NS_T" ss -Hulpn)"
wgi_log "listen_port in use: errno=-98 from both, wgtun unchanged"
kill -0 "${WGI_PID_OF[$IF_T]}" || wgi_fail "wgtun died"
echo ok
