#!/usr/bin/env bash
# Keepalives between wgtun (A) and wireguard-go (B), no application traffic unless stated:
#  1. `wg setconf` of a config with a key and a PersistentKeepalive peer (what wg-quick does):
#     the handshake happens without any traffic (wgtun used to wait for the first packet:
#     the peer was applied before the key, and the key's arrival did not start a handshake);
#  2. turning persistent-keepalive 1 on while up sends at once, then B receives a 32-byte
#     keepalive every second; turning it off makes A silent;
#  3. passive keepalive: after one one-way datagram from B, A answers with a keepalive within
#     KEEPALIVE_TIMEOUT (10 s) although it has nothing to send.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"

rx_b() { transfer_of "$IF_B" "$PUB_A" | awk '{ print $2 }'; }

# 1. The wg-quick way: one `wg setconf` with the key and a PersistentKeepalive peer.
wgi_ns 1a; NS_A=$WGI_NS
wgi_ns 1b; NS_B=$WGI_NS
wgi_veth "$NS_A" "$NS_B" "$U4_A" "$U4_B"
IF_A=${WGI_TAG}1a IF_B=${WGI_TAG}1b
KEY_A=$(wgi_genkey) KEY_B=$(wgi_genkey)
PUB_A=$(wgi_pubkey "$KEY_A") PUB_B=$(wgi_pubkey "$KEY_B")
wgi_start wgtun "$NS_A" "$IF_A"
wgi_start wggo "$NS_B" "$IF_B"
wg set "$IF_B" private-key <(echo "$KEY_B") listen-port 51821 peer "$PUB_A" allowed-ips "$T4_A/32"
wgi_addr "$NS_B" "$IF_B" "$T4_B" "$T6_B"
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n\n[Peer]\nPublicKey = %s\nEndpoint = %s:51821\nAllowedIPs = %s/32\nPersistentKeepalive = 25\n' \
	"$KEY_A" "$PUB_B" "$U4_B" "$T4_B" >"$WGI_TMP/a.conf"
wg setconf "$IF_A" "$WGI_TMP/a.conf"
ip -n "$NS_A" link set "$IF_A" up
wgi_wait_handshake "$IF_B" "$PUB_A" 10
wgi_log "1: setconf with PersistentKeepalive made the handshake without traffic"

# 2. on/off while up, in a fresh pair without keepalive.
wgi_pair wgtun wggo a_init 2
sleep 1
wgi_has_handshake "$IF_B" "$PUB_A" && wgi_fail "2: handshake without traffic or keepalive"
wg set "$IF_A" peer "$PUB_B" persistent-keepalive 1
wgi_wait_handshake "$IF_B" "$PUB_A" 10
r0=$(rx_b); sleep 4; r1=$(rx_b)
# 4 s at one per second: at least 3 keepalives of 32 bytes.
[ $((r1 - r0)) -ge 96 ] || wgi_fail "2: B received $((r1 - r0)) B in 4 s with keepalive 1"
wg set "$IF_A" peer "$PUB_B" persistent-keepalive 0
sleep 1.5
r0=$(rx_b); sleep 3; r1=$(rx_b)
[ "$r1" -eq "$r0" ] || wgi_fail "2: A still sent $((r1 - r0)) B with keepalive off"
wgi_log "2: persistent keepalive on: >= 3/4 s; off: silent"

# 3. one datagram B -> A into a discarding socket; A has nothing to say, so only the passive
# keepalive can reach B.
ip netns exec "$NS_A" "$PY" -c 'import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("'"$T4_A"'", 5003)); print("bound", flush=True); time.sleep(60)' >"$WGI_TMP/sink" 2>&1 &
WGI_PIDS+=("$!")
wgi_wait_for 10 grep -q bound "$WGI_TMP/sink" || wgi_fail "3: sink did not start"
r0=$(rx_b)
ip netns exec "$NS_B" "$PY" -c 'import socket
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x" * 100, ("'"$T4_A"'", 5003))'
s=$(date +%s)
wgi_wait_for 14 bash -c "[ \$(wg show $IF_B transfer | awk '{ print \$2 }') -gt $r0 ]" ||
	wgi_fail "3: no passive keepalive from wgtun within 14 s"
d=$(( $(date +%s) - s ))
[ "$d" -ge 8 ] || wgi_fail "3: wgtun answered after $d s, before KEEPALIVE_TIMEOUT"
[ $(( $(rx_b) - r0 )) -eq 32 ] || wgi_fail "3: expected one 32-byte keepalive, got $(( $(rx_b) - r0 )) B"
wgi_log "3: passive keepalive after $d s"
echo ok
