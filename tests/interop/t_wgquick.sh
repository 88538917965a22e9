#!/usr/bin/env bash
# Stock wg-quick drives wgtun: `WG_QUICK_USERSPACE_IMPLEMENTATION=wgtun wg-quick up ./IF.conf`
# in one namespace, the peer brought up by wg-quick with wireguard-go in another. Checked: the
# userspace fallback ran wgtun, addresses, MTU (given and computed), routes for AllowedIPs, a
# handshake and pings (v4, v6), a full tunnel (0.0.0.0/0, ::/0: fwmark 51820 set through our
# UAPI, policy rules, and traffic that only works if the fwmark is really on our UDP sockets),
# and `wg-quick down` removing interface, socket, process, routes and rules.
# Usage: t_wgquick.sh BUILD_DIR (as root; needs nftables for the full-tunnel case, deps.sh).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
set +e # every check is counted (wgi_check) and the test fails at the end, not at the first
wgi_init "${1:?usage: t_wgquick.sh BUILD_DIR}"
build=$(dirname "$WGTUN")
if [ -e /sys/module/wireguard ]; then
  echo "t_wgquick: the wireguard kernel module is loaded; wg-quick would never run a userspace daemon"
  exit 1
fi
type -p nft >/dev/null || { echo "t_wgquick: nft missing (scripts/deps.sh installs nftables)"; exit 1; }

# split tunnel, full tunnel (wgtun), peer (wireguard-go)
if_s=${WGI_TAG}qs if_f=${WGI_TAG}qf if_b=${WGI_TAG}qb
tmp=$WGI_TMP
sockdir=/var/run/wireguard
export PATH=$build:$PATH
A() { ip netns exec "$ns_a" "$@"; }
B() { ip netns exec "$ns_b" "$@"; }

# wg-quick started the daemons (they forked away): down, then by interface name.
wgquick_cleanup() {
  local i p
  for i in "$if_s" "$if_f"; do A wg-quick down "$tmp/$i.conf" >/dev/null 2>&1; done
  B wg-quick down "$tmp/$if_b.conf" >/dev/null 2>&1
  for i in "$if_s" "$if_f" "$if_b"; do
    p=$(wgi_pid_of "$i"); [ -n "$p" ] && kill -TERM "$p"
  done
  sleep 0.3
  for i in "$if_s" "$if_f" "$if_b"; do
    p=$(wgi_pid_of "$i"); [ -n "$p" ] && kill -KILL "$p"
    rm -f "$sockdir/$i.sock"
  done
}
wgi_on_cleanup wgquick_cleanup

{ wgi_ns qa && ns_a=$WGI_NS && wgi_ns qb && ns_b=$WGI_NS && wgi_veth "$ns_a" "$ns_b"; } ||
  { echo "t_wgquick: netns setup failed"; exit 1; }
veth_a=$WGI_VETH_1 veth_b=$WGI_VETH_2
# A reaches the peer only through its default route (as a client on the Internet would), so
# that in full-tunnel mode only the fwmark keeps the encrypted packets out of the tunnel.
A ip addr add 10.99.1.1/32 dev "$veth_a"
A ip route add default dev "$veth_a"
B ip addr add 10.99.1.2/24 dev "$veth_b"

ka=$(wg genkey); pa=$(wg pubkey <<<"$ka")
kb=$(wg genkey); pb=$(wg pubkey <<<"$kb")
# The peer: wireguard-go, brought up by wg-quick as well (the reference on the other end).
cat >"$tmp/$if_b.conf" <<EOF
[Interface]
PrivateKey = $kb
ListenPort = 51821
Address = 10.203.0.2/24, fd01:203::2/64

[Peer]
PublicKey = $pa
AllowedIPs = 10.203.0.1/32, fd01:203::1/128
EOF
(cd "$tmp" && B env WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go wg-quick up "./$if_b.conf") >"$tmp/b.up" 2>&1 ||
  { echo "t_wgquick: the wireguard-go peer did not come up:"; cat "$tmp/b.up"; exit 1; }

# up IF: wg-quick up ./IF.conf with wgtun as the userspace implementation
up() {
  (cd "$tmp" && A env WG_QUICK_USERSPACE_IMPLEMENTATION=wgtun wg-quick up "./$1.conf") >"$tmp/$1.up" 2>&1
}
down() { (cd "$tmp" && A wg-quick down "./$1.conf") >"$tmp/$1.down" 2>&1; }
handshake_of() { A wg show "$1" latest-handshakes 2>/dev/null | awk -v k="$pb" '$1 == k { print $2 }'; }
has_handshake() { [ "$(handshake_of "$1")" != "" ] && [ "$(handshake_of "$1")" != 0 ]; }
ping_ok() { A ping "$@" -c 1 -W 1 >/dev/null 2>&1; }
gone() {
  ! A ip link show dev "$1" >/dev/null 2>&1 && [ ! -e "$sockdir/$1.sock" ] && [ -z "$(wgi_pid_of "$1")" ]
}

echo "== split tunnel: addresses, MTU=1380, routes for AllowedIPs"
cat >"$tmp/$if_s.conf" <<EOF
[Interface]
PrivateKey = $ka
ListenPort = 51820
Address = 10.203.0.1/24, fd01:203::1/64
MTU = 1380

[Peer]
PublicKey = $pb
Endpoint = 10.99.1.2:51821
AllowedIPs = 10.203.0.2/32, fd01:203::2/128, 10.204.0.0/16
PersistentKeepalive = 25
EOF
up "$if_s"; rc=$?
wgi_check "wg-quick up exits 0 (rc=$rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/      | /' "$tmp/$if_s.up"
wgi_check "wg-quick fell back to wgtun" grep -q "^\[#\] wgtun $if_s\$" "$tmp/$if_s.up"
wgi_check "a wgtun process serves $if_s" test "$(ps -o comm= -p "$(wgi_pid_of "$if_s")" 2>/dev/null)" = wgtun
wgi_check "the interface is up" bash -c "ip netns exec $ns_a ip -o link show dev $if_s | grep -q ',UP'"
wgi_check "IPv4 address 10.203.0.1/24" bash -c "ip netns exec $ns_a ip -o -4 addr show dev $if_s | grep -q 'inet 10.203.0.1/24'"
wgi_check "IPv6 address fd01:203::1/64" bash -c "ip netns exec $ns_a ip -o -6 addr show dev $if_s | grep -q 'inet6 fd01:203::1/64'"
mtu=$(A cat "/sys/class/net/$if_s/mtu")
wgi_check "MTU from the file (1380; got $mtu)" test "$mtu" = 1380
wgi_check "route 10.204.0.0/16 via the tunnel" bash -c "ip netns exec $ns_a ip -4 route show dev $if_s | grep -q '^10.204.0.0/16'"
wgi_check "listen port 51820 (wg show through our socket)" test "$(A wg show "$if_s" listen-port)" = 51820
wgi_check "persistent keepalive 25" bash -c "ip netns exec $ns_a wg show $if_s persistent-keepalive | grep -q '	25$'"
wgi_check "ping 10.203.0.2 through the tunnel" wgi_wait_for 10 ping_ok 10.203.0.2
wgi_check "handshake recorded" has_handshake "$if_s"
wgi_check "ping fd01:203::2 through the tunnel" wgi_wait_for 5 ping_ok -6 fd01:203::2
wgi_check "large ping (1352 bytes, fits MTU 1380) goes through" ping_ok -s 1324 -M do 10.203.0.2
down "$if_s"; rc=$?
wgi_check "wg-quick down exits 0 (rc=$rc)" test "$rc" = 0
wgi_check "down: interface, socket and wgtun process gone" wgi_wait_for 5 gone "$if_s"
wgi_check "down: the route is gone" bash -c "! ip netns exec $ns_a ip -4 route | grep -q 10.204.0.0/16"

echo "== full tunnel: 0.0.0.0/0 and ::/0, computed MTU, fwmark and policy routing"
cat >"$tmp/$if_f.conf" <<EOF
[Interface]
PrivateKey = $ka
ListenPort = 51820
Address = 10.203.0.1/24, fd01:203::1/64

[Peer]
PublicKey = $pb
Endpoint = 10.99.1.2:51821
AllowedIPs = 0.0.0.0/0, ::/0
EOF
up "$if_f"; rc=$?
wgi_check "wg-quick up exits 0 (rc=$rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/      | /' "$tmp/$if_f.up"
mtu=$(A cat "/sys/class/net/$if_f/mtu")
wgi_check "MTU computed by wg-quick from the route to the endpoint (1500 - 80 = 1420; got $mtu)" test "$mtu" = 1420
fw=$(A wg show "$if_f" fwmark)
wgi_check "fwmark set by wg-quick and reported by wgtun (0xca6c; got $fw)" test "$fw" = 0xca6c
wgi_check "policy rule: not fwmark 51820 -> table 51820" bash -c "ip netns exec $ns_a ip -4 rule | grep -q 'not from all fwmark 0xca6c lookup 51820'"
wgi_check "IPv6 policy rule too" bash -c "ip netns exec $ns_a ip -6 rule | grep -q 'not from all fwmark 0xca6c lookup 51820'"
wgi_check "default route in table 51820" bash -c "ip netns exec $ns_a ip -4 route show table 51820 | grep -q '^default dev $if_f'"
# With the default route in the tunnel, the encrypted packets reach 10.99.1.2 only if wgtun
# marks its UDP sockets; otherwise they loop into the tunnel and no handshake completes.
# Control: with the mark taken off, nothing gets through (the interface's IPv6 chatter at link
# up has usually made a session already, so the data packets are what loops), and the loop
# does not hurt the daemon; with wg-quick's mark back, traffic flows.
A wg set "$if_f" fwmark 0
wgi_check "control: without the fwmark the ping fails (packets loop into the tunnel)" \
  bash -c "! ip netns exec $ns_a ping -c 2 -i 0.5 -W 1 10.203.0.2 >/dev/null 2>&1"
wgi_check "control: the daemon survived the loop" test -n "$(wgi_pid_of "$if_f")"
A wg set "$if_f" fwmark 51820
wgi_check "ping 10.203.0.2 through the full tunnel" wgi_wait_for 10 ping_ok 10.203.0.2
wgi_check "handshake recorded" has_handshake "$if_f"
wgi_check "ping fd01:203::2 through the full tunnel" wgi_wait_for 5 ping_ok -6 fd01:203::2
wgi_check "the endpoint is reached outside the tunnel (route get with mark)" \
  bash -c "ip netns exec $ns_a ip route get 10.99.1.2 mark 0xca6c | grep -q 'dev $veth_a'"
down "$if_f"; rc=$?
wgi_check "wg-quick down exits 0 (rc=$rc)" test "$rc" = 0
wgi_check "down: interface, socket and wgtun process gone" wgi_wait_for 5 gone "$if_f"
wgi_check "down: policy rules removed" bash -c "! ip netns exec $ns_a ip rule | grep -q 0xca6c && ! ip netns exec $ns_a ip -6 rule | grep -q 0xca6c"
wgi_check "down: nft table removed" bash -c "! ip netns exec $ns_a nft list tables | grep -q 'wg-quick-$if_f'"

(cd "$tmp" && B wg-quick down "./$if_b.conf") >/dev/null 2>&1
wgi_check "peer down: wireguard-go gone" wgi_wait_for 5 bash -c "[ -z \"\$(ps -eo args= | awk '\$NF == \"$if_b\"')\" ]"

wgi_summary t_wgquick
