#!/usr/bin/env bash
# Traffic through an inherited TUN fd (WG_TUN_FD, as wireguard-go takes it), against
# wireguard-go. A wrapper opens the TUN itself, notes its ifindex, and execs `wgtun -f IFACE`
# with the fd as 3; `wg` configures it; pings and TCP transfers (SHA-256 on both ends) go
# through it. Two rounds:
#   plain: a TUN without vnet header, and the UAPI socket inherited too (WG_UAPI_FD=4);
#   vnet:  a TUN with IFF_VNET_HDR, the daemon making its own UAPI socket: it must set the
#          offloads on the inherited fd and cut the kernel's TSO super-packets.
# Each round asserts the daemon used what it was given: its fd 3 is the wrapper's TUN (the
# kernel's fdinfo names the interface), it holds no other TUN fd, the interface keeps the
# wrapper's ifindex and header mode (no TUN of its own), and in the plain round the socket
# file is the wrapper's inode. A third check: given an argument other than the TUN's name, the
# daemon takes the name from the fd, as wireguard-go does (socket and log named after the
# interface, none after the argument), and traffic flows. Usage: t_tunfd.sh BUILD_DIR (root).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
set +e # every check is counted (wgi_check); the test fails at the end
wgi_init "${1:?usage: t_tunfd.sh BUILD_DIR}"
XFER="$(dirname "$0")/xfer.py"

wgi_ns a; NS_A=$WGI_NS
wgi_ns b; NS_B=$WGI_NS
wgi_veth "$NS_A" "$NS_B" "$U4_A" "$U4_B" "$U6_A" "$U6_B"
IF_B=${WGI_TAG}b
KEY_A=$(wgi_genkey) KEY_B=$(wgi_genkey)
PUB_A=$(wgi_pubkey "$KEY_A") PUB_B=$(wgi_pubkey "$KEY_B")
PORT_A=51820 PORT_B=51821
wgi_start wggo "$NS_B" "$IF_B"
wg set "$IF_B" private-key <(echo "$KEY_B") listen-port "$PORT_B" \
	peer "$PUB_A" allowed-ips "$T4_A/32,$T6_A/128"
wgi_addr "$NS_B" "$IF_B" "$T4_B" "$T6_B"

# The wrapper: opens the TUN (plain or vnet), in the plain round also the listening UAPI
# socket, writes what it made to INFO, and becomes the daemon (exec: same PID, fds kept).
cat >"$WGI_TMP/wrap.py" <<'PY'
import fcntl, os, socket, struct, sys
ifc, wgtun, mode, info = sys.argv[1:5]
arg = sys.argv[5] if len(sys.argv) > 5 else ifc  # the name the daemon is given
IFF_TUN, IFF_NO_PI, IFF_VNET_HDR, TUNSETIFF = 0x0001, 0x1000, 0x4000, 0x400454ca
flags = IFF_TUN | IFF_NO_PI | (IFF_VNET_HDR if mode == "vnet" else 0)
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", ifc.encode(), flags))
env = dict(os.environ, WG_TUN_FD="3", LOG_LEVEL="verbose")
env.pop("WG_UAPI_FD", None)
out = ["ifindex %s" % open("/sys/class/net/%s/ifindex" % ifc).read().strip()]
if tun != 3:
    os.dup2(tun, 3)
    os.close(tun)
os.set_inheritable(3, True)
if mode == "plain":
    os.makedirs("/var/run/wireguard", mode=0o755, exist_ok=True)
    path = "/var/run/wireguard/%s.sock" % ifc
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o077)
    s.bind(path)
    os.umask(old)
    s.listen(16)
    if s.fileno() != 4:
        os.dup2(s.fileno(), 4)
    os.set_inheritable(4, True)
    env["WG_UAPI_FD"] = "4"
    out.append("sock_ino %d" % os.stat(path).st_ino)
with open(info, "w") as f:
    f.write("\n".join(out) + "\n")
os.execve(wgtun, [wgtun, "-f", arg], env)
PY

transfer() { # transfer SRC_NS DST_NS DST_ADDR MIB PORT: prints nothing, returns 0 if intact
	local src=$1 dst=$2 addr=$3 mib=$4 port=$5 rlog=$WGI_TMP/recv.out slog=$WGI_TMP/send.out rpid
	: >"$rlog"
	ip netns exec "$dst" "$PY" "$XFER" recv "$addr" "$port" >"$rlog" 2>&1 &
	rpid=$!
	WGI_PIDS+=("$rpid")
	wgi_wait_for 10 grep -q listening "$rlog" || return 1
	ip netns exec "$src" "$PY" "$XFER" send "$addr" "$port" "$mib" >"$slog" 2>&1 || return 1
	wait "$rpid" || return 1
	local sent got
	sent=$(tail -n 1 "$slog") got=$(tail -n 1 "$rlog")
	wgi_log "$mib MiB to $addr: sent '$sent', received '$got'"
	[ "$sent" = "$got" ] && [ "${sent%% *}" = $((mib * 1048576)) ]
}

tun_fds() { # the daemon's fds open on /dev/net/tun
	local f
	for f in /proc/"$1"/fd/*; do
		[ "$(readlink "$f")" = /dev/net/tun ] && basename "$f"
	done
}
ifindex_of() { ip netns exec "$NS_A" cat "/sys/class/net/$1/ifindex" 2>/dev/null; }
vnet_of() { ip -n "$NS_A" -d link show "$1" | grep -o 'vnet_hdr [a-z]*'; }
stat_is() { [ "$(wgi_dstat "$1" "$2")" = "$3" ]; }
stat_pos() { local v; v=$(wgi_dstat "$1" "$2"); [ -n "$v" ] && [ "$v" -gt 0 ]; }

# round MODE SUFFIX
round() {
	local mode=$1 ifc=${WGI_TAG}$2 info=$WGI_TMP/$2.info log pid idx ino want
	log=$(wgi_logfile "$ifc")
	echo "== $mode TUN fd inherited ($ifc)"
	WGI_IFACES+=("$ifc")
	ip netns exec "$NS_A" "$PY" "$WGI_TMP/wrap.py" "$ifc" "$WGTUN" "$mode" "$info" >>"$log" 2>&1 &
	pid=$!
	WGI_PIDS+=("$pid")
	WGI_PID_OF[$ifc]=$pid WGI_IMPL_OF[$ifc]=wgtun WGI_NS_OF[$ifc]=$NS_A
	if ! wgi_wait_for 20 wgi_sock_ready "$ifc"; then
		wgi_bad "$mode: the daemon's UAPI socket answers"
		tail -n 20 "$log"
		return
	fi
	idx=$(awk '$1 == "ifindex" { print $2 }' "$info")
	wgi_check "$mode: the wrapper's exec is the daemon (pid $pid is wgtun)" \
		test "$(readlink /proc/"$pid"/exe)" = "$(readlink -f "$WGTUN")"
	wgi_check "$mode: its fd 3 is the wrapper's TUN ($ifc in the kernel's fdinfo)" \
		grep -qx "iff:	$ifc" /proc/"$pid"/fdinfo/3
	wgi_check "$mode: no other TUN fd in the daemon ($(tun_fds "$pid" | tr '\n' ' '))" \
		test "$(tun_fds "$pid" | tr '\n' ' ')" = "3 "
	wgi_check "$mode: one $ifc link, the wrapper's (ifindex $idx)" \
		test "$(ip -n "$NS_A" -o link show | grep -c " $ifc:")" = 1 -a "$(ifindex_of "$ifc")" = "$idx"
	if [ "$mode" = plain ]; then want="vnet_hdr off"; else want="vnet_hdr on"; fi
	wgi_check "$mode: the kernel shows the wrapper's header mode ($want)" test "$(vnet_of "$ifc")" = "$want"
	if [ "$mode" = plain ]; then
		ino=$(awk '$1 == "sock_ino" { print $2 }' "$info")
		wgi_check "$mode: the UAPI socket is the wrapper's (inode $ino)" \
			test "$(stat -c %i "/var/run/wireguard/$ifc.sock")" = "$ino"
		wgi_check "$mode: the daemon's log says no vnet header" \
			wgi_wait_for 5 grep -q 'offloads: TUN vnet header off' "$log"
	else
		wgi_check "$mode: the daemon's log says vnet header on, TSO 1" \
			wgi_wait_for 5 grep -q 'offloads: TUN vnet header on (csum 1, TSO 1' "$log"
	fi
	wg set "$ifc" private-key <(echo "$KEY_A") listen-port "$PORT_A" \
		peer "$PUB_B" allowed-ips "$T4_B/32,$T6_B/128" endpoint "$U4_B:$PORT_B"
	wgi_addr "$NS_A" "$ifc" "$T4_A" "$T6_A"
	wgi_check "$mode: ping wgtun -> wireguard-go (IPv4)" \
		wgi_wait_for 20 ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 -w 10 "$T4_B"
	wgi_check "$mode: ping wireguard-go -> wgtun (IPv6)" \
		wgi_wait_for 20 ip netns exec "$NS_B" ping -c 3 -i 0.2 -W 2 -w 10 "$T6_A"
	wgi_check "$mode: 20 MiB wgtun -> wireguard-go intact" transfer "$NS_A" "$NS_B" "$T4_B" 20 5001
	wgi_check "$mode: 20 MiB wireguard-go -> wgtun intact" transfer "$NS_B" "$NS_A" "$T6_A" 20 5002
	wgi_check "$mode: no TUN write error" stat_is "$ifc" tun_write_error 0
	if [ "$mode" = vnet ]; then
		# The kernel handed TSO super-packets to the inherited fd: offloads were set on it.
		wgi_check "$mode: TSO super-packets read and cut (tun_split_tcp > 0)" stat_pos "$ifc" tun_split_tcp
	else
		wgi_check "$mode: nothing cut on a plain TUN (tun_split_tcp 0)" stat_is "$ifc" tun_split_tcp 0
	fi
	wgi_check "$mode: still one TUN fd and the same link after the traffic" \
		test "$(tun_fds "$pid" | tr '\n' ' ')" = "3 " -a "$(ifindex_of "$ifc")" = "$idx"
	wgi_stop "$ifc"
	wgi_check "$mode: SIGTERM: the daemon is gone and its TUN with it" \
		wgi_wait_for 5 test -z "$(ifindex_of "$ifc")"
}

round plain p
round vnet v

# named: the fd's interface is ${WGI_TAG}n, the argument ${WGI_TAG}x.
ifc=${WGI_TAG}n arg=${WGI_TAG}x
echo "== an argument other than the inherited TUN's name ($ifc, given $arg)"
WGI_IFACES+=("$ifc" "$arg")
log=$(wgi_logfile "$ifc")
ip netns exec "$NS_A" "$PY" "$WGI_TMP/wrap.py" "$ifc" "$WGTUN" named "$WGI_TMP/n.info" "$arg" >>"$log" 2>&1 &
pid=$!
WGI_PIDS+=("$pid")
WGI_PID_OF[$ifc]=$pid WGI_IMPL_OF[$ifc]=wgtun WGI_NS_OF[$ifc]=$NS_A
wgi_check "named: the UAPI socket is named after the TUN ($ifc)" wgi_wait_for 20 wgi_sock_ready "$ifc"
wgi_check "named: no socket named after the argument ($arg)" test ! -e "/var/run/wireguard/$arg.sock"
wgi_check "named: the log names the interface" grep -q "($ifc)" "$log"
wg set "$ifc" private-key <(echo "$KEY_A") listen-port "$PORT_A" \
	peer "$PUB_B" allowed-ips "$T4_B/32,$T6_B/128" endpoint "$U4_B:$PORT_B"
wgi_addr "$NS_A" "$ifc" "$T4_A" "$T6_A"
wgi_check "named: ping wgtun -> wireguard-go" \
	wgi_wait_for 20 ip netns exec "$NS_A" ping -c 3 -i 0.2 -W 2 -w 10 "$T4_B"
wgi_stop "$ifc"
wgi_summary t_tunfd
