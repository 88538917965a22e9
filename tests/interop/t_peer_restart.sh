#!/usr/bin/env bash
# A peer restarts (process stopped, interface gone, started again with the same keys): the
# survivor must take the new handshake and traffic must resume, with a newer latest-handshake.
#  1. wireguard-go restarts and initiates again; wgtun (responder to the new handshake) keeps
#     running.
#  2. wgtun restarts and initiates again towards a wireguard-go that still holds the old session.
#  3. wireguard-go restarts *without* knowing wgtun's endpoint: wgtun's packets on the dead
#     session are dropped, so wgtun must notice (no reply within KEEPALIVE + REKEY_TIMEOUT) and
#     start a new handshake by itself; traffic from wgtun resumes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"

# restart SIDE(A|B) WITH_ENDPOINT(yes|no): stop and start that side's daemon, reconfigure it.
restart() {
	local side=$1 ep=$2 ifc ns impl key port peer peer_port peer_u4 t4 t6 pt4 pt6 epargs=()
	if [ "$side" = A ]; then
		ifc=$IF_A ns=$NS_A key=$KEY_A port=$PORT_A peer=$PUB_B peer_port=$PORT_B peer_u4=$U4_B
		t4=$T4_A t6=$T6_A pt4=$T4_B pt6=$T6_B
	else
		ifc=$IF_B ns=$NS_B key=$KEY_B port=$PORT_B peer=$PUB_A peer_port=$PORT_A peer_u4=$U4_A
		t4=$T4_B t6=$T6_B pt4=$T4_A pt6=$T6_A
	fi
	impl=${WGI_IMPL_OF[$ifc]}
	wgi_stop "$ifc"
	wgi_wait_for 10 bash -c "! ip -n $ns link show $ifc" || wgi_fail "$ifc still exists after stop"
	wgi_start "$impl" "$ns" "$ifc"
	[ "$ep" = yes ] && epargs=(endpoint "$peer_u4:$peer_port")
	wg set "$ifc" private-key <(echo "$key") listen-port "$port" \
		peer "$peer" allowed-ips "$pt4/32,$pt6/128" "${epargs[@]}"
	wgi_addr "$ns" "$ifc" "$t4" "$t6"
}

# Waits until the wall clock is past T (handshake times have 1 s resolution).
after_second() { wgi_wait_for 3 bash -c "[ \$(date +%s) -gt $1 ]"; }
newer_handshake() { [ "$(wgi_handshake_time "$1" "$2")" -gt "$3" ]; }

wgi_pair wgtun wggo both 1
wgi_ping "$NS_A" "$T4_B"
t1=$(wgi_handshake_time "$IF_A" "$PUB_B")
after_second "$t1"
wgi_log "1: wireguard-go restarts and initiates"
restart B yes
wgi_ping "$NS_B" "$T4_A"
wgi_ping "$NS_A" "$T6_B"
wgi_wait_for 5 newer_handshake "$IF_A" "$PUB_B" "$t1" || wgi_fail "wgtun's latest handshake did not move"

t2=$(wgi_handshake_time "$IF_B" "$PUB_A")
after_second "$t2"
wgi_log "2: wgtun restarts and initiates"
restart A yes
wgi_ping "$NS_A" "$T4_B"
wgi_ping "$NS_B" "$T6_A"
wgi_wait_for 5 newer_handshake "$IF_B" "$PUB_A" "$t2" || wgi_fail "wireguard-go's latest handshake did not move"
kill -0 "${WGI_PID_OF[$IF_A]}" || wgi_fail "wgtun died"

wgi_pair wgtun wggo a_init 2
wgi_ping "$NS_A" "$T4_B"
t3=$(wgi_handshake_time "$IF_A" "$PUB_B")
after_second "$t3"
wgi_log "3: wireguard-go restarts without wgtun's endpoint; wgtun must re-handshake by itself"
restart B no
s=$(date +%s)
# KEEPALIVE_TIMEOUT + REKEY_TIMEOUT = 15 s (+ jitter) after the first unanswered packet.
ip netns exec "$NS_A" ping -i 0.5 -W 1 -w 45 -c 1 "$T4_B" >/dev/null 2>&1 ||
	wgi_fail "no reply within 45 s after the peer restarted"
wgi_log "traffic back after $(( $(date +%s) - s )) s"
wgi_wait_for 5 newer_handshake "$IF_A" "$PUB_B" "$t3" || wgi_fail "wgtun's latest handshake did not move"
wgi_ping "$NS_B" "$T6_A"
echo ok
