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

# 9. big configurations read back completely: one peer with N*256*2 + 1 allowed IPs in one
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
check_sanitizers
result "${#done_list[@]} scenarios passed: $(IFS=';'; echo "${done_list[*]}")"
