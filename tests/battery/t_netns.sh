#!/usr/bin/env bash
# Scenarios of the Linux kernel's tools/testing/selftests/wireguard/netns.sh that apply to a
# userspace daemon, run wgtun <-> wgtun (docs/netns-port.md lists all of them and why the
# others do not apply). Each scenario is one check below.
BAT_NAME=netns
source "$(dirname "$0")/lib.sh"
if [ "$MODE" = long ]; then big_i=255 iperf_s=3; else big_i=26 iperf_s=2; fi
done_list=()
ok() { done_list+=("$1"); log "ok: $1"; }
xfer() { ip netns exec "$1" wg show "$2" transfer | awk -v k="$3" '$1 == k {print $2, $3}'; }

bat_topology 1
# outer IPv6 on the A-B veth as well
ip -n "$NS_A" addr add fd00:241::1/64 dev "$VA_B" nodad
ip -n "$NS_B" addr add fd00:241::2/64 dev "$VB_A" nodad
bat_pair
nsa ip addr add fd40::1/64 dev "$IF_A"; nsb ip addr add fd40::2/64 dev "$IF_B"
nsa wg set "$IF_A" peer "$PUB_B" allowed-ips "$TIP_B/32,fd40::2/128"
nsb wg set "$IF_B" peer "$PUB_A" allowed-ips "$TIP_A/32,fd40::1/128"

# 1. exact byte counters: fresh peers, A initiates with 10 pings
nsa wg set "$IF_A" peer "$PUB_B" remove; nsb wg set "$IF_B" peer "$PUB_A" remove
nsa wg set "$IF_A" peer "$PUB_B" preshared-key <(echo "$PSK") endpoint "$IP_B:$PORT_B" allowed-ips "$TIP_B/32,fd40::2/128"
nsb wg set "$IF_B" peer "$PUB_A" preshared-key <(echo "$PSK") endpoint "$IP_A:$PORT_A" allowed-ips "$TIP_A/32,fd40::1/128"
nsa ping -c 10 -i 0.05 -W 2 "$TIP_B" >/dev/null || fail "10 pings"
read -r rx tx <<<"$(xfer "$NS_A" "$IF_A" "$PUB_B")"
[ "$rx" = 1372 ] && { [ "$tx" = 1428 ] || [ "$tx" = 1460 ]; } || fail "byte counters after 10 pings: rx $rx tx $tx (kernel: 1372 / 1428 or 1460)"
[ "$(nsa wg show "$IF_A" latest-handshakes | awk '{print $2}')" -gt 0 ] || fail "no latest handshake"
ok "exact counters rx=$rx tx=$tx"

# 2. ping v4 and v6 inside, over v4 outside and then v6 outside
for outer in "$IP_B:$PORT_B" "[fd00:241::2]:$PORT_B"; do
  nsa wg set "$IF_A" peer "$PUB_B" endpoint "$outer"
  nsa ping -c 10 -i 0.01 -W 2 "$TIP_B" >/dev/null || fail "ping v4 over $outer"
  nsa ping -6 -c 10 -i 0.01 -W 2 fd40::2 >/dev/null || fail "ping v6 over $outer"
  nsb ping -c 10 -i 0.01 -W 2 "$TIP_A" >/dev/null || fail "ping v4 back over $outer"
done
ok "ping v4/v6 inner over v4/v6 outer"

# 3. TCP v4 and v6, one and 4 parallel streams (outer is v6 now, then v4)
nsb iperf3 -s -D -B :: -p 5401 --pidfile "$T/iperf.pid" >/dev/null 2>&1
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$T/iperf.pid" ] && break; sleep 0.1; done
BAT_PIDS+=("$(cat "$T/iperf.pid")")
for outer in "[fd00:241::2]:$PORT_B" "$IP_B:$PORT_B"; do
  nsa wg set "$IF_A" peer "$PUB_B" endpoint "$outer"
  nsa iperf3 -c "$TIP_B" -p 5401 -t "$iperf_s" >/dev/null || fail "TCP v4 over $outer"
  nsa iperf3 -6 -c fd40::2 -p 5401 -t "$iperf_s" >/dev/null || fail "TCP v6 over $outer"
  nsa iperf3 -c "$TIP_B" -p 5401 -t "$iperf_s" -P 4 >/dev/null || fail "4 TCP streams over $outer"
  nsa iperf3 -c "$TIP_B" -p 5401 -t "$iperf_s" -R >/dev/null || fail "TCP v4 reverse over $outer"
done
ok "iperf3 TCP v4/v6, 1 and 4 streams, both directions, v4/v6 outer"

# 4. crypto-routing reverse path: B's source moves to a more specific allowed IP of peer X
s0=$(stats "$PID_A" "$T/daemonA.log")
X=$(wg genkey | wg pubkey)
nsa wg set "$IF_A" peer "$PUB_B" allowed-ips 10.240.0.0/24 peer "$X" allowed-ips "$TIP_B/32"
nsb ping -c 3 -i 0.1 -W 1 "$TIP_A" >/dev/null 2>&1 && fail "packets from B accepted although $TIP_B belongs to another peer"
s1=$(stats "$PID_A" "$T/daemonA.log")
[ $(( $(stat_get "$s1" rx_allowed_ip) - $(stat_get "$s0" rx_allowed_ip) )) -ge 3 ] || fail "rx_allowed_ip did not count the dropped packets"
nsa wg set "$IF_A" peer "$X" remove peer "$PUB_B" allowed-ips "$TIP_B/32,fd40::2/128"
nsb ping -c 2 -W 2 "$TIP_A" >/dev/null || fail "ping after the reverse-path test"
ok "reverse-path filter by allowed IPs"

# 5. private key change, then immediately a handshake with the new key
new=$(genkey); newpub=$(wg pubkey <<<"$new")
nsa wg set "$IF_A" private-key <(echo "$new")
nsb wg set "$IF_B" peer "$PUB_A" remove peer "$newpub" preshared-key <(echo "$PSK") \
  endpoint "$IP_A:$PORT_A" allowed-ips "$TIP_A/32,fd40::1/128"
nsb ping -c 2 -W 2 "$TIP_A" >/dev/null || fail "no handshake right after the key change"
KEY_A=$new PUB_A=$newpub
ok "key change + immediate handshake"

# 6. a peer with our own public key is ignored; 7. /dev/null clears the private key
nsa wg set "$IF_A" peer "$PUB_A"
nsa wg show "$IF_A" peers | grep -qx "$PUB_A" && fail "peer with our own public key was added"
ok "own public key ignored"
nsa wg set "$IF_A" private-key /dev/null
[ "$(nsa wg show "$IF_A" private-key)" = "(none)" ] || fail "private key not cleared by /dev/null"
nsa wg set "$IF_A" private-key <(echo "$KEY_A")
[ "$(nsa wg show "$IF_A" private-key)" = "$KEY_A" ] || fail "private key not restored"
ok "private key cleared with /dev/null"

# 8. low-order public keys as peers with keepalive 1: nothing may be sent in 2 s
low=(AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
     4Ot6fDtBuK4WVuP68Z/EatoJjeucMrH9hmIFFl9JuAA= X5yVvKNQjCSx0LFVnIPvWwREXMRYHI6G2CJO3dCfEVc=
     7P///////////////////////////////////////38= 7f///////////////////////////////////////38=
     7v///////////////////////////////////////38=)
# The kernel accepts such peers and never sends to them; wgtun refuses the request
# (-EINVAL, nothing changed). Either way nothing may go out: both outcomes are accepted here
# and the refusals are counted (docs/netns-port.md).
refused=0 accepted=()
for i in "${!low[@]}"; do
  if nsa wg set "$IF_A" peer "${low[$i]}" endpoint "127.0.0.1:$((1111 + i))" persistent-keepalive 1 \
       allowed-ips "10.242.$i.0/24" 2>/dev/null; then
    accepted+=("${low[$i]}")
  else
    refused=$((refused + 1))
    nsa wg show "$IF_A" peers | grep -qx -- "${low[$i]}" && fail "refused low-order peer was added anyway"
  fi
done
sleep 2
for k in "${accepted[@]}"; do
  read -r rx tx <<<"$(xfer "$NS_A" "$IF_A" "$k")"
  [ "${tx:-x}" = 0 ] || fail "sent $tx bytes to low-order peer $k"
  nsa wg set "$IF_A" peer "$k" remove
done
ok "7 low-order keys: $refused refused, ${#accepted[@]} accepted with 0 bytes sent in 2 s"

# 9. WireGuard inside WireGuard: a second pair of daemons (A2 in A's namespace, B2 in B's)
#    whose endpoints are the first tunnel's inner addresses, so every datagram of A2/B2 is
#    carried by A/B. Traffic flows both ways, and the loop drop (tx_loop) never takes the
#    nested datagrams: they come from another port, to an address that is not a peer's endpoint.
IF_A2=${IF_A}2 IF_B2=${IF_B}2 PORT_A2=51830 PORT_B2=51831 TIP2_A=10.241.0.1 TIP2_B=10.241.0.2
BAT_IFACES+=("$IF_A2" "$IF_B2")
KEY_A2=$(genkey) KEY_B2=$(genkey); PUB_A2=$(wg pubkey <<<"$KEY_A2") PUB_B2=$(wg pubkey <<<"$KEY_B2")
bat_daemon "$NS_A" "$IF_A2" "$T/daemonA2.log"; PID_A2=$DAEMON_PID
bat_daemon "$NS_B" "$IF_B2" "$T/daemonB2.log"; PID_B2=$DAEMON_PID
nsa wg set "$IF_A2" private-key <(echo "$KEY_A2") listen-port $PORT_A2 \
  peer "$PUB_B2" endpoint "$TIP_B:$PORT_B2" allowed-ips "$TIP2_B/32"
nsb wg set "$IF_B2" private-key <(echo "$KEY_B2") listen-port $PORT_B2 \
  peer "$PUB_A2" endpoint "$TIP_A:$PORT_A2" allowed-ips "$TIP2_A/32"
# the kernel test's inner MTU: 1420 - 80 (room for the outer tunnel's v6 overhead)
nsa ip addr add "$TIP2_A/24" dev "$IF_A2"; nsa ip link set "$IF_A2" mtu 1340 up
nsb ip addr add "$TIP2_B/24" dev "$IF_B2"; nsb ip link set "$IF_B2" mtu 1340 up
l0=$(stat_get "$(stats "$PID_A" "$T/daemonA.log")" tx_loop) lb0=$(stat_get "$(stats "$PID_B" "$T/daemonB.log")" tx_loop)
read -r orx0 otx0 <<<"$(xfer "$NS_A" "$IF_A" "$PUB_B")"
nsa ping -c 10 -i 0.02 -W 2 "$TIP2_B" >/dev/null || fail "ping through the nested tunnel"
nsb ping -c 10 -i 0.02 -W 2 "$TIP2_A" >/dev/null || fail "ping back through the nested tunnel"
nsb iperf3 -s -D -B "$TIP2_B" -p 5402 --pidfile "$T/iperf2.pid" >/dev/null 2>&1
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -s "$T/iperf2.pid" ] && break; sleep 0.1; done
BAT_PIDS+=("$(cat "$T/iperf2.pid")")
nsa iperf3 -c "$TIP2_B" -p 5402 -t "$iperf_s" -J >"$T/iperf2.json" || fail "TCP through the nested tunnel"
mbit=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e6))' "$T/iperf2.json")
read -r irx itx <<<"$(xfer "$NS_A" "$IF_A2" "$PUB_B2")"
read -r orx1 otx1 <<<"$(xfer "$NS_A" "$IF_A" "$PUB_B")"
# the outer tunnel carried at least what the inner one sent (plus its own overhead)
[ $((otx1 - otx0)) -ge "$itx" ] || fail "outer tunnel sent $((otx1 - otx0)) bytes, less than the nested one's $itx"
l1=$(stat_get "$(stats "$PID_A" "$T/daemonA.log")" tx_loop) lb1=$(stat_get "$(stats "$PID_B" "$T/daemonB.log")" tx_loop)
[ "$l1" = "$l0" ] && [ "$lb1" = "$lb0" ] || fail "the loop drop took nested datagrams (tx_loop A $l0 -> $l1, B $lb0 -> $lb1)"
ok "WireGuard inside WireGuard: ping both ways, TCP ${mbit} Mbit/s, inner tx $itx B inside outer tx $((otx1 - otx0)) B, tx_loop 0"

# 10. Routing loop (the kernel's "routing loop" check, B11): the route to B's endpoint is
#     pointed into A's own tunnel (and B's allowed IPs take the endpoint, as AllowedIPs
#     0.0.0.0/0 without wg-quick's policy rules would), with a session up. A ping flood must
#     not be encrypted again and again: A's transmit counter to B grows < 70,000 bytes (the
#     kernel's bound) in the flood and the second after it, A counts the loop (tx_loop) and
#     stays alive. LOOP_CONTROL_BUILD=DIR runs the same check against DIR's daemon built with
#     -DWGTUN_TEST_NO_LOOP_DROP=ON and requires the opposite (>= 70,000 bytes): the negative
#     control, which shows that this check can fail (docs/netns-port.md).
loop_check() { # PID LOGFILE: prints "tx_delta tx_loop_delta"
  local pid=$1 logf=$2 s0 s1 tx0 tx1
  nsa ping -c 2 -W 2 "$TIP_B" >/dev/null || fail "no session before the loop test"
  nsa wg set "$IF_A" peer "$PUB_B" allowed-ips "$TIP_B/32,fd40::2/128,$IP_B/32"
  nsa ip route add "$IP_B/32" dev "$IF_A"
  s0=$(stats "$pid" "$logf"); read -r _ tx0 <<<"$(xfer "$NS_A" "$IF_A" "$PUB_B")"
  nsa ping -f -c 10 -W 1 "$TIP_B" >/dev/null 2>&1 && fail "ping answered through a routing loop"
  sleep 1
  s1=$(stats "$pid" "$logf"); read -r _ tx1 <<<"$(xfer "$NS_A" "$IF_A" "$PUB_B")"
  alive "$pid" "daemon A in the routing loop"
  nsa ip route del "$IP_B/32" dev "$IF_A"
  nsa wg set "$IF_A" peer "$PUB_B" allowed-ips "$TIP_B/32,fd40::2/128"
  nsa ping -c 2 -W 2 "$TIP_B" >/dev/null || fail "no ping after the routing loop was removed"
  echo "$((tx1 - tx0)) $(( $(stat_get "$s1" tx_loop) - $(stat_get "$s0" tx_loop) ))"
}
read -r loop_tx loop_n <<<"$(loop_check "$PID_A" "$T/daemonA.log")"
[ "$loop_tx" -lt 70000 ] || fail "routing loop: A sent $loop_tx bytes to B (kernel bound 70,000)"
[ "$loop_n" -ge 10 ] || fail "routing loop: tx_loop counted $loop_n of the 10 pings' datagrams"
loop_ctl=
if [ -n "${LOOP_CONTROL_BUILD:-}" ]; then
  # the same scenario against a daemon without the drop: A re-created from the control build
  kill "$PID_A"; wait "$PID_A" 2>/dev/null || true
  for _ in $(seq 50); do [ -S "/var/run/wireguard/$IF_A.sock" ] || break; sleep 0.1; done
  BUILD=$LOOP_CONTROL_BUILD bat_daemon "$NS_A" "$IF_A" "$T/daemonActl.log"; PID_A=$DAEMON_PID
  nsa wg set "$IF_A" private-key <(echo "$KEY_A") listen-port $PORT_A \
    peer "$PUB_B" preshared-key <(echo "$PSK") endpoint "$IP_B:$PORT_B" allowed-ips "$TIP_B/32,fd40::2/128"
  nsa ip addr add "$TIP_A/24" dev "$IF_A"; nsa ip addr add fd40::1/64 dev "$IF_A"
  nsa ip link set "$IF_A" mtu 1420 up
  read -r ctl_tx ctl_n <<<"$(loop_check "$PID_A" "$T/daemonActl.log")"
  [ "$ctl_n" = 0 ] || fail "control build: tx_loop counted $ctl_n (was it built with -DWGTUN_TEST_NO_LOOP_DROP=ON?)"
  [ "$ctl_tx" -ge 70000 ] || fail "negative control: without the drop A sent only $ctl_tx bytes in the loop (the check could not fail)"
  loop_ctl=", without the drop (control build) $ctl_tx B"
fi
ok "routing loop: A sent $loop_tx B to B in a 10-ping flood (< 70,000), tx_loop +$loop_n$loop_ctl"

# 11. big configurations read back completely: one peer with N*256*2 + 1 allowed IPs in one
#    setconf, then 40 peers x 52 prefixes
{
  printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n\n[Peer]\nPublicKey = %s\nAllowedIPs = 10.240.0.2/32\n' "$KEY_A" "$PORT_A" "$PUB_B"
  awk -v n="$big_i" 'BEGIN {for (i = 0; i < n; i++) for (j = 0; j < 256; j++) {
    printf "AllowedIPs = 11.%d.%d.0/24\nAllowedIPs = abcd::%x:%x/128\n", i, j, i, j }}'
} >"$T/big.conf"
want=$((big_i * 256 * 2 + 1))
nsa wg setconf "$IF_A" "$T/big.conf" || fail "setconf with $want allowed IPs"
got=$(nsa wg show "$IF_A" allowed-ips | awk -v k="$PUB_B" '$1 == k {print NF - 1}')
[ "$got" = "$want" ] || fail "read back $got of $want allowed IPs"
{
  printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n' "$KEY_A" "$PORT_A"
  for p in $(seq 40); do
    printf '\n[Peer]\nPublicKey = %s\n' "$(wg genkey | wg pubkey)"
    for q in $(seq 52); do printf 'AllowedIPs = 12.%d.%d.0/24\n' "$p" "$q"; done
  done
} >"$T/many.conf"
nsa wg setconf "$IF_A" "$T/many.conf"
[ "$(nsa wg show "$IF_A" allowed-ips | awk '{n += NF - 1} END {print n}')" = 2080 ] || fail "40 x 52 prefixes not read back"
ok "setconf $want allowed IPs on one peer and 40 peers x 52, read back"
alive "$PID_A" "daemon A"; alive "$PID_B" "daemon B"
alive "$PID_A2" "daemon A2"; alive "$PID_B2" "daemon B2"
check_sanitizers
result "${#done_list[@]} scenarios passed: $(IFS=';'; echo "${done_list[*]}")"
