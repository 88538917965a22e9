#!/usr/bin/env bash
# The wgtun interface set administratively down and up (docs/linkstate.md), against a wgtun
# peer and a wireguard-go peer:
#  - down: nothing listens on wgtun's port any more (ss), `wg show` still answers with the
#    same listening port, latest handshake and transfer (kept, as the kernel and wireguard-go
#    keep them); the peer's packets are lost (its ping fails); a `wg set` while down is
#    stored (persistent keepalive shows at once);
#  - up: the same port listens again, and the keepalive set while down makes a new handshake
#    with no traffic; traffic flows. The control before: a ping a second later on a live
#    session makes no new handshake, so the one after up comes from the down;
#  - N down/up cycles: traffic after them, the daemon's fds and threads back to the baseline;
#  - listen-port 0: the random port is kept across down/up (both references do).
# Not compared with wireguard-go's own link down: Debian's v0.0.20220316 keeps its sockets
# open and sessions alive when its TUN goes down (docs/linkstate.md); the kernel's closes.
WGI_PREFIX=ls
. "$(dirname "$0")/lib.sh"
wgi_init "$1"
CYCLES=${LINKSTATE_CYCLES:-10}

listeners() { ip netns exec "$1" ss -Hlun "sport = :$2" | wc -l; }
listening() { [ "$(listeners "$1" "$2")" -gt 0 ]; }
not_listening() { [ "$(listeners "$1" "$2")" -eq 0 ]; }
nfds() { ls "/proc/$1/fd" | wc -l; }
# The fd count once a `wg` call's UAPI connection is closed (the server closes it after the
# client went away, a moment later).
settled_fds() { sleep 0.5; nfds "$1"; }
fds_are() { [ "$(nfds "$1")" = "$2" ]; }
nthreads() { ls "/proc/$1/task" | wc -l; }
rx_of() { wg show "$1" transfer | awk -v k="$2" '$1 == k { print $2 }'; }
after_second() { wgi_wait_for 3 bash -c "[ \$(date +%s) -gt $1 ]"; }
newer_handshake() { [ "$(wgi_handshake_time "$1" "$2")" -gt "$3" ]; }
down() {
	ip -n "$1" link set "$2" down
	wgi_wait_for 5 not_listening "$1" "$3" || wgi_fail "$2 down: port $3 still listening"
}
up() {
	ip -n "$1" link set "$2" up
	wgi_wait_for 5 listening "$1" "$3" || wgi_fail "$2 up: port $3 not listening"
}

scenario() { # scenario PEER_IMPL SUFFIX
	local pid t1 rx1 fd0 th0 port i
	wgi_pair wgtun "$1" both "$2"
	pid=${WGI_PID_OF[$IF_A]}
	wgi_log "$1 peer: traffic, then the wgtun link down and up"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	listening "$NS_A" "$PORT_A" || wgi_fail "wgtun does not listen on $PORT_A"
	t1=$(wgi_handshake_time "$IF_A" "$PUB_B")
	# Control: a session in use makes no new handshake a second later.
	after_second "$t1"
	wgi_ping "$NS_A" "$T4_B" 2
	[ "$(wgi_handshake_time "$IF_A" "$PUB_B")" = "$t1" ] ||
		wgi_fail "control: a new handshake without any down"
	rx1=$(rx_of "$IF_A" "$PUB_B")
	fd0=$(settled_fds "$pid") th0=$(nthreads "$pid")

	down "$NS_A" "$IF_A" "$PORT_A"
	[ "$(wg show "$IF_A" listen-port)" = "$PORT_A" ] || wgi_fail "down: listen-port not shown"
	[ "$(wgi_handshake_time "$IF_A" "$PUB_B")" = "$t1" ] || wgi_fail "down: latest handshake changed"
	[ "$(rx_of "$IF_A" "$PUB_B")" -ge "$rx1" ] || wgi_fail "down: transfer went back"
	# The peer still has its session; its packets reach a closed port.
	! ip netns exec "$NS_B" ping -c 1 -W 1 "$T4_A" >/dev/null 2>&1 ||
		wgi_fail "down: the peer's ping got an answer"
	wg set "$IF_A" peer "$PUB_B" persistent-keepalive 25
	[ "$(wg show "$IF_A" persistent-keepalive | awk '{ print $2 }')" = 25 ] ||
		wgi_fail "down: a wg set was not stored"
	not_listening "$NS_A" "$PORT_A" || wgi_fail "a wg set while down opened the port"

	# Up: a new handshake from the keepalive alone (no ping yet).
	up "$NS_A" "$IF_A" "$PORT_A"
	wgi_wait_for 10 newer_handshake "$IF_A" "$PUB_B" "$t1" ||
		wgi_fail "up: no new handshake from the persistent keepalive"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	wg set "$IF_A" peer "$PUB_B" persistent-keepalive 0

	wgi_log "$1 peer: $CYCLES down/up cycles"
	for i in $(seq 1 "$CYCLES"); do
		down "$NS_A" "$IF_A" "$PORT_A"
		up "$NS_A" "$IF_A" "$PORT_A"
	done
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	kill -0 "$pid" || wgi_fail "wgtun died"
	wgi_wait_for 5 fds_are "$pid" "$fd0" ||
		wgi_fail "fds: $(nfds "$pid") after the cycles, $fd0 before"
	[ "$(nthreads "$pid")" = "$th0" ] || wgi_fail "threads: $(nthreads "$pid") after, $th0 before"

	wgi_log "$1 peer: listen-port 0 keeps its random port across down/up"
	wg set "$IF_A" listen-port 0
	port=$(wg show "$IF_A" listen-port)
	[ "$port" != "$PORT_A" ] && [ "$port" -gt 0 ] || wgi_fail "listen-port 0 gave $port"
	wgi_ping "$NS_A" "$T4_B" # the peer roams to the new port
	down "$NS_A" "$IF_A" "$port"
	[ "$(wg show "$IF_A" listen-port)" = "$port" ] || wgi_fail "down: random port not shown"
	up "$NS_A" "$IF_A" "$port"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
}

scenario wgtun w
scenario wggo g

echo ok
