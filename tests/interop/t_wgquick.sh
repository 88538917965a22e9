#!/usr/bin/env bash
# Stock wg-quick drives wgtun: `WG_QUICK_USERSPACE_IMPLEMENTATION=wgtun wg-quick up ./IF.conf`
# in one namespace, the peer brought up by wg-quick with wireguard-go in another. Checked: the
# userspace fallback ran wgtun, addresses, MTU (given and computed), routes for AllowedIPs, a
# handshake and pings (v4, v6), a full tunnel (0.0.0.0/0, ::/0: fwmark 51820 set through our
# UAPI, policy rules, and traffic that only works if the fwmark is really on our UDP sockets),
# and `wg-quick down` removing interface, socket, process, routes and rules.
# Usage: t_wgquick.sh BUILD_DIR (as root; needs nftables for the full-tunnel case, deps.sh).
set -uo pipefail
build=$(cd "${1:?usage: t_wgquick.sh BUILD_DIR}" && pwd)
[ -x "$build/wgtun" ] || { echo "t_wgquick: no $build/wgtun"; exit 1; }
if [ -e /sys/module/wireguard ]; then
  echo "t_wgquick: the wireguard kernel module is loaded; wg-quick would never run a userspace daemon"
  exit 1
fi
type -p nft >/dev/null || { echo "t_wgquick: nft missing (scripts/deps.sh installs nftables)"; exit 1; }

tag=$$
ns_a=wgd-qa$tag ns_b=wgd-qb$tag
veth_a=wgdqva$tag veth_b=wgdqvb$tag
if_s=wgdqs$tag if_f=wgdqf$tag if_b=wgdqb$tag # split tunnel, full tunnel (wgtun), peer (wireguard-go)
tmp=$(mktemp -d /tmp/wgd-wgquick.XXXXXX)
sockdir=/var/run/wireguard
export PATH=$build:$PATH
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "  ok   $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
A() { ip netns exec "$ns_a" "$@"; }
B() { ip netns exec "$ns_b" "$@"; }
pid_of() { ps -eo pid=,args= | awk -v i="$1" '$NF == i && $0 ~ /(wgtun|wireguard-go) / { print $1; exit }'; }
wait_until() {
  local n=$(($1 * 10)); shift
  while [ "$n" -gt 0 ]; do "$@" && return 0; sleep 0.1; n=$((n - 1)); done
  return 1
}

cleanup() {
  local i p
  for i in "$if_s" "$if_f"; do A wg-quick down "$tmp/$i.conf" >/dev/null 2>&1; done
  B wg-quick down "$tmp/$if_b.conf" >/dev/null 2>&1
  for i in "$if_s" "$if_f" "$if_b"; do
    p=$(pid_of "$i"); [ -n "$p" ] && kill -TERM "$p"
  done
  sleep 0.3
  for i in "$if_s" "$if_f" "$if_b"; do
    p=$(pid_of "$i"); [ -n "$p" ] && kill -KILL "$p"
    rm -f "$sockdir/$i.sock"
  done
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ip netns add "$ns_a" && ip netns add "$ns_b" &&
  ip link add "$veth_a" netns "$ns_a" type veth peer name "$veth_b" netns "$ns_b" || { echo "t_wgquick: netns setup failed"; exit 1; }
A ip link set lo up; B ip link set lo up
# A reaches the peer only through its default route (as a client on the Internet would), so
# that in full-tunnel mode only the fwmark keeps the encrypted packets out of the tunnel.
A ip addr add 10.99.1.1/32 dev "$veth_a"; A ip link set "$veth_a" up
A ip route add default dev "$veth_a"
B ip addr add 10.99.1.2/24 dev "$veth_b"; B ip link set "$veth_b" up

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
  ! A ip link show dev "$1" >/dev/null 2>&1 && [ ! -e "$sockdir/$1.sock" ] && [ -z "$(pid_of "$1")" ]
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
check "wg-quick up exits 0 (rc=$rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/      | /' "$tmp/$if_s.up"
check "wg-quick fell back to wgtun" grep -q "^\[#\] wgtun $if_s\$" "$tmp/$if_s.up"
check "a wgtun process serves $if_s" test "$(ps -o comm= -p "$(pid_of "$if_s")" 2>/dev/null)" = wgtun
check "the interface is up" bash -c "ip netns exec $ns_a ip -o link show dev $if_s | grep -q ',UP'"
check "IPv4 address 10.203.0.1/24" bash -c "ip netns exec $ns_a ip -o -4 addr show dev $if_s | grep -q 'inet 10.203.0.1/24'"
check "IPv6 address fd01:203::1/64" bash -c "ip netns exec $ns_a ip -o -6 addr show dev $if_s | grep -q 'inet6 fd01:203::1/64'"
mtu=$(A cat "/sys/class/net/$if_s/mtu")
check "MTU from the file (1380; got $mtu)" test "$mtu" = 1380
check "route 10.204.0.0/16 via the tunnel" bash -c "ip netns exec $ns_a ip -4 route show dev $if_s | grep -q '^10.204.0.0/16'"
check "listen port 51820 (wg show through our socket)" test "$(A wg show "$if_s" listen-port)" = 51820
check "persistent keepalive 25" bash -c "ip netns exec $ns_a wg show $if_s persistent-keepalive | grep -q '	25$'"
check "ping 10.203.0.2 through the tunnel" wait_until 10 ping_ok 10.203.0.2
check "handshake recorded" has_handshake "$if_s"
check "ping fd01:203::2 through the tunnel" wait_until 5 ping_ok -6 fd01:203::2
check "large ping (1352 bytes, fits MTU 1380) goes through" ping_ok -s 1324 -M do 10.203.0.2
down "$if_s"; rc=$?
check "wg-quick down exits 0 (rc=$rc)" test "$rc" = 0
check "down: interface, socket and wgtun process gone" wait_until 5 gone "$if_s"
check "down: the route is gone" bash -c "! ip netns exec $ns_a ip -4 route | grep -q 10.204.0.0/16"

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
check "wg-quick up exits 0 (rc=$rc)" test "$rc" = 0
[ "$rc" = 0 ] || sed 's/^/      | /' "$tmp/$if_f.up"
mtu=$(A cat "/sys/class/net/$if_f/mtu")
check "MTU computed by wg-quick from the route to the endpoint (1500 - 80 = 1420; got $mtu)" test "$mtu" = 1420
fw=$(A wg show "$if_f" fwmark)
check "fwmark set by wg-quick and reported by wgtun (0xca6c; got $fw)" test "$fw" = 0xca6c
check "policy rule: not fwmark 51820 -> table 51820" bash -c "ip netns exec $ns_a ip -4 rule | grep -q 'not from all fwmark 0xca6c lookup 51820'"
check "IPv6 policy rule too" bash -c "ip netns exec $ns_a ip -6 rule | grep -q 'not from all fwmark 0xca6c lookup 51820'"
check "default route in table 51820" bash -c "ip netns exec $ns_a ip -4 route show table 51820 | grep -q '^default dev $if_f'"
# With the default route in the tunnel, the encrypted packets reach 10.99.1.2 only if wgtun
# marks its UDP sockets; otherwise they loop into the tunnel and no handshake completes.
# Control: with the mark taken off, nothing gets through (the interface's IPv6 chatter at link
# up has usually made a session already, so the data packets are what loops), and the loop
# does not hurt the daemon; with wg-quick's mark back, traffic flows.
A wg set "$if_f" fwmark 0
check "control: without the fwmark the ping fails (packets loop into the tunnel)" \
  bash -c "! ip netns exec $ns_a ping -c 2 -i 0.5 -W 1 10.203.0.2 >/dev/null 2>&1"
check "control: the daemon survived the loop" test -n "$(pid_of "$if_f")"
A wg set "$if_f" fwmark 51820
check "ping 10.203.0.2 through the full tunnel" wait_until 10 ping_ok 10.203.0.2
check "handshake recorded" has_handshake "$if_f"
check "ping fd01:203::2 through the full tunnel" wait_until 5 ping_ok -6 fd01:203::2
check "the endpoint is reached outside the tunnel (route get with mark)" \
  bash -c "ip netns exec $ns_a ip route get 10.99.1.2 mark 0xca6c | grep -q 'dev $veth_a'"
down "$if_f"; rc=$?
check "wg-quick down exits 0 (rc=$rc)" test "$rc" = 0
check "down: interface, socket and wgtun process gone" wait_until 5 gone "$if_f"
check "down: policy rules removed" bash -c "! ip netns exec $ns_a ip rule | grep -q 0xca6c && ! ip netns exec $ns_a ip -6 rule | grep -q 0xca6c"
check "down: nft table removed" bash -c "! ip netns exec $ns_a nft list tables | grep -q 'wg-quick-$if_f'"

(cd "$tmp" && B wg-quick down "./$if_b.conf") >/dev/null 2>&1
check "peer down: wireguard-go gone" wait_until 5 bash -c "[ -z \"\$(ps -eo args= | awk '\$NF == \"$if_b\"')\" ]"

echo "t_wgquick: $pass passed, $fail failed"
[ "$fail" = 0 ]
