#!/usr/bin/env bash
# What must NOT work, between wgtun (A) and wireguard-go (B):
#  1. mismatched preshared keys: no handshake, in either role, no traffic; fixing the PSK heals it;
#  2. cryptokey routing on receive: B sends from a tunnel source that A's allowed IPs do not
#     give to B -> A drops it; once A allows that prefix it passes;
#  3. cryptokey routing on send: A has no route to a destination outside B's allowed IPs ->
#     nothing leaves (B sees no extra data);
#  4. a peer configured with the wrong public key: no handshake.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"

no_ping() { ! ip netns exec "$1" ping -c 3 -i 0.3 -W 1 "$2" >/dev/null 2>&1 || wgi_fail "$3"; }

wgi_pair wgtun wggo both
wg set "$IF_A" peer "$PUB_B" preshared-key <(wg genpsk)
wg set "$IF_B" peer "$PUB_A" preshared-key <(wg genpsk)
no_ping "$NS_A" "$T4_B" "1: A reached B with mismatched PSKs"
no_ping "$NS_B" "$T4_A" "1: B reached A with mismatched PSKs"
wgi_has_handshake "$IF_A" "$PUB_B" && wgi_fail "1: wgtun shows a handshake with a wrong PSK"
wgi_has_handshake "$IF_B" "$PUB_A" && wgi_fail "1: wireguard-go shows a handshake with a wrong PSK"
psk=$(wg genpsk)
wg set "$IF_A" peer "$PUB_B" preshared-key <(echo "$psk")
wg set "$IF_B" peer "$PUB_A" preshared-key <(echo "$psk")
wgi_ping "$NS_A" "$T4_B"
wgi_log "1: mismatched PSKs refused both ways; same PSK works"

# 2. B gets a second tunnel address that A does not attribute to B.
wg set "$IF_B" peer "$PUB_A" allowed-ips 0.0.0.0/0
ip -n "$NS_B" addr add 10.203.0.9/32 dev "$IF_B"
ip -n "$NS_A" route add 10.203.0.9/32 dev "$IF_A"
ip -n "$NS_B" route add "$T4_A/32" dev "$IF_B" src 10.203.0.9 2>/dev/null || true
# What wgtun wrote into its TUN (the kernel counts it as rx on the interface).
tun_rx() { ip netns exec "$NS_A" cat "/sys/class/net/$IF_A/statistics/rx_packets"; }
read -r _ rx0 < <(transfer_of "$IF_A" "$PUB_B")
p0=$(tun_rx)
no_ping "$NS_B" "$T4_A" "2: A accepted a packet from a source outside B's allowed IPs"
read -r _ rx1 < <(transfer_of "$IF_A" "$PUB_B")
p1=$(tun_rx)
[ "$rx1" -gt $((rx0 + 3 * 100)) ] || wgi_fail "2: the spoofed packets never reached A (test broken)"
[ "$p1" -eq "$p0" ] || wgi_fail "2: wgtun wrote $((p1 - p0)) packets with a disallowed source into the TUN"
wg set "$IF_A" peer "$PUB_B" allowed-ips "$T4_B/32,$T6_B/128,10.203.0.9/32"
wgi_ping "$NS_B" "$T4_A"
wgi_log "2: source outside allowed IPs dropped ($((rx1 - rx0)) B arrived), allowed after adding it"

# 3. A destination routed into the interface but outside every peer's allowed IPs.
ip -n "$NS_A" route add 10.204.0.0/24 dev "$IF_A"
read -r tx0 _ < <(transfer_of "$IF_A" "$PUB_B")
ip netns exec "$NS_A" ping -c 5 -i 0.2 -W 1 10.204.0.5 >/dev/null 2>&1 && wgi_fail "3: ping to nowhere answered"
read -r tx1 _ < <(transfer_of "$IF_A" "$PUB_B")
# Keepalives may go out meanwhile (32 B each), five 84-byte pings would be > 5*112.
[ $((tx1 - tx0)) -lt 300 ] || wgi_fail "3: A sent $((tx1 - tx0)) B for destinations without a peer"
wgi_log "3: no peer for the destination: nothing sent"

# 4. A peer key that is not B's.
wrong=$(wgi_pubkey "$(wgi_genkey)")
wg set "$IF_A" peer "$PUB_B" remove peer "$wrong" allowed-ips "$T4_B/32" endpoint "$U4_B:$PORT_B"
no_ping "$NS_A" "$T4_B" "4: traffic passed to a peer with the wrong public key"
wgi_has_handshake "$IF_A" "$wrong" && wgi_fail "4: handshake with a wrong public key"
wgi_log "4: wrong peer key: no handshake"
kill -0 "${WGI_PID_OF[$IF_A]}" || wgi_fail "wgtun died"
echo ok
