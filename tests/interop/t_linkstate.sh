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
#  - listen-port 0: the random port is kept across down/up (both references do);
#  - a port taken while down (docs/linkstate.md "A port taken at up"; wgtun peer only): a
#    configured port: up leaves wgtun down and alive, one error line, `wg show` answers, a
#    `wg set listen-port` on the taken port fails; released, the same `wg set` brings it up
#    on that port and traffic flows. A random port: up takes a new random port, traffic.
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
# wgtun itself (not another process) listens on the port.
wgtun_on() { ip netns exec "$1" ss -Hlunp "sport = :$2" | grep -q "pid=$3,"; }
# take NS PORT: a process of the test binds the UDP port (both families); its PID in HOLDER.
take() {
	ip netns exec "$1" "$PY" -c 'import socket, sys, time
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s4.bind(("0.0.0.0", int(sys.argv[1])))
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); s6.bind(("::", int(sys.argv[1])))
time.sleep(120)' "$2" &
	HOLDER=$!
	WGI_PIDS+=("$HOLDER")
	wgi_wait_for 5 listening "$1" "$2" || wgi_fail "the test could not take port $2"
}
stalls() { grep -c "could not be opened on port $2" "$(wgi_logfile "$1")"; }
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
	if [ "$1" = wgtun ]; then port_taken; fi
}

port_taken() {
	local pid=${WGI_PID_OF[$IF_A]} port
	wgi_log "wgtun peer: its configured port taken while down"
	wg set "$IF_A" listen-port "$PORT_A"
	wgi_ping "$NS_A" "$T4_B"
	down "$NS_A" "$IF_A" "$PORT_A"
	take "$NS_A" "$PORT_A"
	ip -n "$NS_A" link set "$IF_A" up
	wgi_wait_for 5 bash -c "grep -q 'could not be opened on port $PORT_A' '$(wgi_logfile "$IF_A")'" ||
		wgi_fail "port taken: no error line at up"
	sleep 1
	kill -0 "$pid" || wgi_fail "port taken: wgtun died"
	! wgtun_on "$NS_A" "$PORT_A" "$pid" || wgi_fail "port taken: wgtun listens anyway"
	[ "$(stalls "$IF_A" "$PORT_A")" = 1 ] || wgi_fail "port taken: the error was not said once"
	[ "$(wg show "$IF_A" listen-port)" = "$PORT_A" ] || wgi_fail "port taken: wg show does not answer"
	! wg set "$IF_A" listen-port "$PORT_A" 2>/dev/null ||
		wgi_fail "port taken: a wg set listen-port on it succeeded"
	kill "$HOLDER"
	wait "$HOLDER" 2>/dev/null || true
	wgi_wait_for 5 not_listening "$NS_A" "$PORT_A" || wgi_fail "the test's holder did not go"
	wg set "$IF_A" listen-port "$PORT_A" || wgi_fail "released: wg set listen-port failed"
	wgtun_on "$NS_A" "$PORT_A" "$pid" || wgi_fail "released: wgtun does not listen on $PORT_A"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"

	wgi_log "wgtun peer: its random port taken while down"
	wg set "$IF_A" listen-port 0
	port=$(wg show "$IF_A" listen-port)
	wgi_ping "$NS_A" "$T4_B"
	down "$NS_A" "$IF_A" "$port"
	take "$NS_A" "$port"
	ip -n "$NS_A" link set "$IF_A" up
	wgi_wait_for 5 bash -c "[ \"\$(wg show $IF_A listen-port)\" != $port ]" ||
		wgi_fail "random port taken: no new port"
	wgtun_on "$NS_A" "$(wg show "$IF_A" listen-port)" "$pid" ||
		wgi_fail "random port taken: wgtun does not listen on its new port"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T4_A"
	kill "$HOLDER"
}

scenario wgtun w
scenario wggo g

echo ok
