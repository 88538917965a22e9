# tests/interop/lib.sh: shared helpers for the interop tests (source it, do not run it).
#
#   . "$(dirname "$0")/lib.sh"
#   wgi_init "$1"                  # BUILD_DIR; sets WGTUN, installs the cleanup trap
#
# Every name this library creates starts with $WGI_TAG (= ${WGI_PREFIX:-wgi}$$), so parallel
# runs never collide, and the EXIT/INT/TERM trap removes all of it (processes it started, by
# PID; namespaces, which take their veths and TUN links along; stale UAPI sockets).
#
# Stable API (other tests source this; extend, do not change):
#   wgi_init BUILD_DIR               must come first; dies unless root and BUILD_DIR/wgtun exists
#   wgi_ns SUFFIX                    create netns "$WGI_TAG$SUFFIX" with lo up; sets WGI_NS to it
#                                    (not a subshell-safe "echo": the trap must learn the name)
#   wgi_veth NS1 NS2 [ADDR4_1 ADDR4_2 [ADDR6_1 ADDR6_2]]
#                                    veth pair ${WGI_TAG}v<n>a/b, moved into NS1/NS2, up, with
#                                    the given addresses (/24, /64 nodad); sets WGI_VETH_1/_2
#   wgi_start IMPL NS IFACE          start IMPL (wgtun | wggo) in the foreground in NS as IFACE;
#                                    waits for its UAPI socket; sets WGI_LAST_PID
#   wgi_stop IFACE                   SIGTERM the daemon of IFACE, wait for it (bounded)
#   wgi_genkey / wgi_pubkey KEY      base64 keys via `wg`
#   wgi_wait_handshake IFACE PUBKEY [TIMEOUT_S]
#                                    poll `wg show IFACE latest-handshakes` until non-zero
#   wgi_handshake_time IFACE PUBKEY  the current latest-handshake (0 = never)
#   wgi_wait_for TIMEOUT_S CMD...    poll CMD every 0.2 s until it succeeds
#   wgi_ping NS ADDR [COUNT]         ping until COUNT replies in a row, at most 20 s
#   wgi_uapi IFACE                   send stdin to the UAPI socket, print the reply
#   wgi_pair IMPL_A IMPL_B [MODE [SUFFIX]]
#                                    two namespaces A and B joined by a veth, a WireGuard
#                                    interface in each (IMPL_A in A, IMPL_B in B), configured as
#                                    peers; MODE: both (default; both know the endpoint),
#                                    a_init (only A knows B's endpoint), b_init. Sets
#                                    NS_A NS_B VETH_A VETH_B IF_A IF_B KEY_A KEY_B PUB_A PUB_B
#                                    PORT_A PORT_B and uses the address constants below. SUFFIX
#                                    (default empty) goes into every name so one test can build
#                                    several pairs; the variables describe the last one. With
#                                    WGI_PSK set (base64), both peers use it as preshared key.
#   wgi_addr NS IFACE ADDR4 ADDR6    tunnel addresses (/24, /64) on IFACE and link up
#   wgi_side_by_side                 wgtun and wireguard-go each alone in a namespace (t, g), not
#                                    peers, for comparing the two; sets NS_T NS_G IF_T IF_G
#   wgi_logfile IFACE                the daemon log of IFACE (verbose; shown by wgi_fail)
#   WGI_PIDS+=("$!")                 register a background process for the cleanup trap
#   WGI_PID_OF[IFACE] WGI_IMPL_OF[IFACE] WGI_NS_OF[IFACE]   daemon PID, implementation, netns
#   PY                               Debian's python3 (not a pyenv shim)
#   wgi_log MSG / wgi_fail MSG       progress line / failure (prints daemon logs, exit 1)
#   wgi_on_cleanup FN                the cleanup trap calls FN first (for what a test made that
#                                    the trap does not know: daemons that forked away, wg-quick)
#   wgi_pid_of IFACE                 PID of the wgtun / wireguard-go process whose last argument
#                                    is IFACE (also one that daemonized), empty if none
#   WGTUN_NO_OFFLOAD=1 (env)         every wgtun that wgi_start starts must come up without
#                                    offloads (its "offloads:" log line and the kernel's
#                                    `vnet_hdr off`), else the test fails; a test that started
#                                    no wgtun that way fails too (it did not test offloads off)
#   wgi_check WHAT CMD...            for tests that report every check and fail at the end (run
#                                    with `set +e` after sourcing): runs CMD and counts it, printing
#                                    "  ok   WHAT" or "  FAIL WHAT"; wgi_ok MSG / wgi_bad MSG count
#                                    one result; wgi_summary NAME prints the counts and returns
#                                    non-zero if any check failed
#
# Addresses used by wgi_pair: underlay 10.201.0.1/.2 and fd01:201::1/::2 on the veth;
# tunnel 10.202.0.1/.2 and fd01:202::1/::2 on the WireGuard interfaces.

set -euo pipefail

WGI_PREFIX=${WGI_PREFIX:-wgi}
WGI_TAG=${WGI_PREFIX}$$
WGI_NETNS=()
WGI_PIDS=()
WGI_IFACES=()
WGI_TMP=
WGI_VETH_N=0
WGI_ON_CLEANUP=()
WGI_PASS=0 WGI_FAILED=0
WGI_OFFLOAD_OFF_SEEN=0
declare -A WGI_PID_OF=() WGI_IMPL_OF=() WGI_NS_OF=()

U4_A=10.201.0.1 U4_B=10.201.0.2 U6_A=fd01:201::1 U6_B=fd01:201::2
T4_A=10.202.0.1 T4_B=10.202.0.2 T6_A=fd01:202::1 T6_B=fd01:202::2

wgi_log() { printf '  [%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

wgi_fail() {
	printf 'FAIL: %s\n' "$*" >&2
	local f
	for f in "$WGI_TMP"/*.log; do
		[ -s "$f" ] || continue
		printf -- '--- %s (last 30 lines)\n' "$(basename "$f")" >&2
		tail -n 30 "$f" >&2
	done
	exit 1
}

wgi_cleanup() {
	local rc=$? pid ns i fn
	trap - EXIT INT TERM
	if [ "$rc" = 0 ] && wgi_no_offload && [ "$WGI_OFFLOAD_OFF_SEEN" = 0 ]; then
		echo "FAIL: WGTUN_NO_OFFLOAD set but no wgtun was started (and checked) by wgi_start" >&2
		rc=1
	fi
	for fn in "${WGI_ON_CLEANUP[@]}"; do
		"$fn" || true
	done
	for pid in "${WGI_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${WGI_PIDS[@]}"; do
		for i in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for ns in "${WGI_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	for i in "${WGI_IFACES[@]}"; do
		rm -f "/var/run/wireguard/$i.sock"
	done
	[ -n "$WGI_TMP" ] && rm -rf "$WGI_TMP"
	exit "$rc"
}

wgi_init() {
	local build=${1:-}
	[ -n "$build" ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
	[ "$(id -u)" -eq 0 ] || { echo "interop tests need root" >&2; exit 1; }
	WGTUN=$(cd "$build" && pwd)/wgtun
	[ -x "$WGTUN" ] || { echo "no wgtun binary in $build" >&2; exit 1; }
	command -v wireguard-go >/dev/null || { echo "wireguard-go missing (scripts/deps.sh)" >&2; exit 1; }
	command -v wg >/dev/null || { echo "wg missing (scripts/deps.sh)" >&2; exit 1; }
	# Debian's python3, not a user's pyenv shim (CI has only the former).
	PY=/usr/bin/python3
	[ -x "$PY" ] || PY=$(command -v python3)
	WGI_TMP=$(mktemp -d "/tmp/${WGI_TAG}.XXXXXX")
	trap wgi_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

wgi_ns() {
	local ns=$WGI_TAG$1
	ip netns add "$ns" || return
	WGI_NETNS+=("$ns")
	ip -n "$ns" link set lo up
	WGI_NS=$ns
}

wgi_veth() {
	local ns1=$1 ns2=$2 a=${WGI_TAG}v${WGI_VETH_N}a b=${WGI_TAG}v${WGI_VETH_N}b
	WGI_VETH_N=$((WGI_VETH_N + 1))
	ip link add "$a" type veth peer name "$b" || return
	ip link set "$a" netns "$ns1"
	ip link set "$b" netns "$ns2"
	ip -n "$ns1" link set "$a" up
	ip -n "$ns2" link set "$b" up
	if [ $# -ge 4 ]; then
		ip -n "$ns1" addr add "$3/24" dev "$a"
		ip -n "$ns2" addr add "$4/24" dev "$b"
	fi
	if [ $# -ge 6 ]; then
		ip -n "$ns1" addr add "$5/64" dev "$a" nodad
		ip -n "$ns2" addr add "$6/64" dev "$b" nodad
	fi
	WGI_VETH_1=$a WGI_VETH_2=$b
}

wgi_on_cleanup() { WGI_ON_CLEANUP+=("$1"); }

wgi_pid_of() {
	ps -eo pid=,args= | awk -v i="$1" '$NF == i && $0 ~ /(wgtun|wireguard-go) / { print $1; exit }'
}

wgi_ok() { WGI_PASS=$((WGI_PASS + 1)); echo "  ok   $*"; }
wgi_bad() { WGI_FAILED=$((WGI_FAILED + 1)); echo "  FAIL $*"; }
wgi_check() {
	local what=$1
	shift
	if "$@"; then wgi_ok "$what"; else wgi_bad "$what"; fi
}
wgi_summary() {
	echo "$1: $WGI_PASS passed, $WGI_FAILED failed"
	[ "$WGI_FAILED" = 0 ]
}

wgi_wait_for() {
	local timeout=$1 deadline
	shift
	deadline=$(($(date +%s%N) / 1000000 + timeout * 1000))
	while ! "$@" >/dev/null 2>&1; do
		[ $(($(date +%s%N) / 1000000)) -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

wgi_sock_ready() { [ -S "/var/run/wireguard/$1.sock" ] && wg show "$1" >/dev/null 2>&1; }

# The log file of an interface's daemon (shown by wgi_fail).
wgi_logfile() { echo "$WGI_TMP/$1.log"; }

wgi_start() {
	local impl=$1 ns=$2 ifc=$3 log pid
	log=$(wgi_logfile "$ifc")
	[ ${#ifc} -le 15 ] || wgi_fail "interface name $ifc too long"
	WGI_IFACES+=("$ifc")
	case $impl in
	wgtun)
		ip netns exec "$ns" env LOG_LEVEL=verbose "$WGTUN" -f "$ifc" >>"$log" 2>&1 &
		;;
	wggo)
		ip netns exec "$ns" env LOG_LEVEL=verbose wireguard-go -f "$ifc" >>"$log" 2>&1 &
		;;
	*) wgi_fail "unknown implementation $impl" ;;
	esac
	pid=$!
	WGI_PIDS+=("$pid")
	WGI_PID_OF[$ifc]=$pid
	WGI_IMPL_OF[$ifc]=$impl
	WGI_NS_OF[$ifc]=$ns
	WGI_LAST_PID=$pid
	wgi_wait_for 20 wgi_sock_ready "$ifc" || wgi_fail "$impl $ifc: UAPI socket did not appear"
	kill -0 "$pid" 2>/dev/null || wgi_fail "$impl $ifc exited at start"
	[ "$impl" = wgtun ] && wgi_no_offload && wgi_assert_offload_off "$ns" "$ifc"
	return 0
}

# The daemon's own reading of WGTUN_NO_OFFLOAD (cli/wgtun.c): anything but unset, "" or "0".
wgi_no_offload() { [ -n "${WGTUN_NO_OFFLOAD:-}" ] && [ "$WGTUN_NO_OFFLOAD" != 0 ]; }
wgi_offload_logged() { grep -q 'offloads: TUN vnet header' "$1"; }
# wgi_assert_offload_off NS IFACE: the daemon says it runs without offloads, and the kernel
# agrees that its TUN has no vnet header (so the variable really reached the data path).
wgi_assert_offload_off() {
	local log line kern
	log=$(wgi_logfile "$2")
	wgi_wait_for 10 wgi_offload_logged "$log" || wgi_fail "$2: no 'offloads:' line in its log"
	line=$(grep -o 'offloads: TUN vnet header [a-z]*' "$log" | tail -n 1)
	[ "$line" = "offloads: TUN vnet header off" ] ||
		wgi_fail "$2: WGTUN_NO_OFFLOAD set but the daemon logged '$line'"
	kern=$(ip -n "$1" -d link show "$2" | grep -o 'vnet_hdr [a-z]*')
	[ "$kern" = "vnet_hdr off" ] || wgi_fail "$2: WGTUN_NO_OFFLOAD set but its TUN shows '$kern'"
	WGI_OFFLOAD_OFF_SEEN=$((WGI_OFFLOAD_OFF_SEEN + 1))
	wgi_log "$2: offloads off (daemon log and kernel: no vnet header)"
}

wgi_stop() {
	local ifc=$1 pid=${WGI_PID_OF[$1]:-} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; wgi_fail "$ifc (pid $pid) ignored SIGTERM for 10 s"; }
	wait "$pid" 2>/dev/null || true
	unset 'WGI_PID_OF[$ifc]'
}

wgi_genkey() { wg genkey; }
wgi_pubkey() { printf '%s\n' "$1" | wg pubkey; }

wgi_handshake_time() {
	wg show "$1" latest-handshakes | awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }'
}

wgi_has_handshake() { [ "$(wgi_handshake_time "$1" "$2")" != 0 ]; }

wgi_wait_handshake() {
	wgi_wait_for "${3:-30}" wgi_has_handshake "$1" "$2" ||
		wgi_fail "no handshake on $1 with ${2:0:8}... within ${3:-30} s"
}

# wgi_stats IFACE: a fresh SIGUSR1 stats line of the daemon, as "name=value" words;
# wgi_dstat IFACE NAME: one counter from it
wgi_stats_lines() { grep -c 'stats:' "$1" || true; }
wgi_more_stats() { [ "$(wgi_stats_lines "$1")" -gt "$2" ]; }
wgi_stats() {
	local log pid=${WGI_PID_OF[$1]} n0
	log=$(wgi_logfile "$1")
	n0=$(wgi_stats_lines "$log")
	kill -USR1 "$pid"
	wgi_wait_for 5 wgi_more_stats "$log" "$n0" || wgi_fail "$1: no stats line"
	grep 'stats:' "$log" | tail -n 1 | sed 's/.*stats: //'
}
wgi_dstat() { wgi_stats "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# ping until COUNT consecutive replies arrive (the first ones may trigger the handshake).
wgi_ping() {
	local ns=$1 addr=$2 count=${3:-3}
	wgi_wait_for 20 ip netns exec "$ns" ping -c "$count" -i 0.2 -W 2 -w 10 "$addr" ||
		wgi_fail "ping $addr from $ns failed"
}

wgi_uapi() {
	"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(10)
s.connect("/var/run/wireguard/%s.sock" % sys.argv[1])
s.sendall(sys.stdin.buffer.read())
out = b""
while not out.endswith(b"\n\n"):
    d = s.recv(65536)
    if not d:
        break
    out += d
sys.stdout.buffer.write(out)
' "$1"
}

# wgi_pair IMPL_A IMPL_B [MODE]: see the header.
wgi_pair() {
	local mode=${3:-both} sfx=${4:-}
	wgi_ns "${sfx}a"; NS_A=$WGI_NS
	wgi_ns "${sfx}b"; NS_B=$WGI_NS
	wgi_veth "$NS_A" "$NS_B" "$U4_A" "$U4_B" "$U6_A" "$U6_B"
	VETH_A=$WGI_VETH_1 VETH_B=$WGI_VETH_2
	IF_A=${WGI_TAG}${sfx}a IF_B=${WGI_TAG}${sfx}b
	KEY_A=$(wgi_genkey) KEY_B=$(wgi_genkey)
	PUB_A=$(wgi_pubkey "$KEY_A") PUB_B=$(wgi_pubkey "$KEY_B")
	PORT_A=51820 PORT_B=51821
	wgi_start "$1" "$NS_A" "$IF_A"
	wgi_start "$2" "$NS_B" "$IF_B"
	local ep_a=() ep_b=() psk=()
	if [ -n "${WGI_PSK:-}" ]; then
		echo "$WGI_PSK" >"$WGI_TMP/psk"
		psk=(preshared-key "$WGI_TMP/psk")
	fi
	case $mode in
	both) ep_a=(endpoint "$U4_B:$PORT_B") ep_b=(endpoint "$U4_A:$PORT_A") ;;
	a_init) ep_a=(endpoint "$U4_B:$PORT_B") ;;
	b_init) ep_b=(endpoint "$U4_A:$PORT_A") ;;
	*) wgi_fail "bad wgi_pair mode $mode" ;;
	esac
	wg set "$IF_A" private-key <(echo "$KEY_A") listen-port "$PORT_A" \
		peer "$PUB_B" allowed-ips "$T4_B/32,$T6_B/128" "${ep_a[@]}" "${psk[@]}"
	wg set "$IF_B" private-key <(echo "$KEY_B") listen-port "$PORT_B" \
		peer "$PUB_A" allowed-ips "$T4_A/32,$T6_A/128" "${ep_b[@]}" "${psk[@]}"
	wgi_addr "$NS_A" "$IF_A" "$T4_A" "$T6_A"
	wgi_addr "$NS_B" "$IF_B" "$T4_B" "$T6_B"
}

# wgi_addr NS IFACE ADDR4 ADDR6: tunnel addresses (/24, /64) and link up.
wgi_addr() {
	ip -n "$1" addr add "$3/24" dev "$2"
	ip -n "$1" addr add "$4/64" dev "$2" nodad
	ip -n "$1" link set "$2" up
}

# wgi_side_by_side: see the header.
wgi_side_by_side() {
	wgi_ns t; NS_T=$WGI_NS
	wgi_ns g; NS_G=$WGI_NS
	IF_T=${WGI_TAG}t IF_G=${WGI_TAG}g
	wgi_start wgtun "$NS_T" "$IF_T"
	wgi_start wggo "$NS_G" "$IF_G"
}
