#!/usr/bin/env bash
# Socket and TUN errors on a running daemon, each for a few seconds with traffic still
# arriving, then repaired. Each phase asserts: the daemon is alive, the error shows in its
# counters, it burns little CPU meanwhile (no busy loop: < 25% of a core) and the tunnel works
# again after the repair. Phases:
#   linkdown A's TUN link set down: A closes its sockets and stops its peer (docs/linkstate.md;
#            before that change every decrypted packet's TUN write failed with EIO here), B's
#            packets meet a closed port; up again, A's packet makes a new handshake at once
#            (B alone would wait KEEPALIVE + REKEY_TIMEOUT, 15 s, before it tries again)
#   unreach  A's route to B removed: every UDP send fails (ENETUNREACH)
#   eagain   A's veth shaped to 100 kbit/s (tbf, 2 MB queue) while A sends ~17 Mbit/s: the
#            socket's send buffer fills (EAGAIN, counted as tx_send_error) and/or the queue
#            overflows (ENOBUFS, which Linux hides from UDP senders without IP_RECVERR; seen
#            as the qdisc's drop count): the phase needs one of the two to move
#   uapi     A's UAPI socket file deleted: A exits promptly with status 0 (as wireguard-go)
#   ifdel    B's interface deleted: B exits promptly with status 0, its socket file removed
# Same size in --short and --long (PHASE_SECONDS, default 4).
BAT_NAME=ioerrors
source "$(dirname "$0")/lib.sh"
secs=${PHASE_SECONDS:-4}
max_cpu=${IOERR_MAX_CPU:-0.25}

bat_topology 1
bat_pair

# phase NAME COUNTER BREAK_CMD REPAIR_CMD TRAFFIC_CMD...
figures=()
phase() {
  local name=$1 counter=$2 brk=$3 repair=$4; shift 4
  local s0 s1 c0 c1 cpu d
  s0=$(stats "$PID_A" "$T/daemonA.log")
  eval "$brk"
  c0=$(cpu_s "$PID_A")
  timeout "$secs" "$@" >/dev/null 2>&1 || true
  c1=$(cpu_s "$PID_A")
  alive "$PID_A" "daemon A (phase $name)"
  s1=$(stats "$PID_A" "$T/daemonA.log")
  eval "$repair"
  d=$(( $(stat_get "$s1" "$counter") - $(stat_get "$s0" "$counter") ))
  if [ "$name" = eagain ]; then
    qdrops=$(cat "$T/qdrops")
    log "eagain: qdisc drops $qdrops"
    d=$((d + qdrops)) counter="tx_send_error+qdisc_drops"
  fi
  cpu=$(awk -v a="$c0" -v b="$c1" -v s="$secs" 'BEGIN {printf "%.3f", (b - a) / s}')
  log "$name: $counter +$d, daemon CPU $cpu of a core"
  [ "$d" -gt 0 ] || fail "$name: $counter did not move (the error was not provoked?)"
  awk -v c="$cpu" -v m="$max_cpu" 'BEGIN {exit !(c < m)}' || fail "$name: CPU $cpu >= $max_cpu (busy loop?)"
  for _ in 1 2 3 4 5; do nsb ping -c 1 -W 2 "$TIP_A" >/dev/null && break; done
  nsb ping -c 2 -W 3 "$TIP_A" >/dev/null || fail "$name: tunnel broken after the repair"
  figures+=("$name: $counter+$d cpu=$cpu")
}

# B -> A traffic at 200 packets/s to A, whose link (and so its sockets) is down
phase linkdown link_down "nsa ip link set $IF_A down" \
  "nsa ip link set $IF_A up; nsa ip addr add $TIP_A/24 dev $IF_A 2>/dev/null || true; nsa ping -c 1 -W 3 $TIP_B >/dev/null || true" \
  ip netns exec "$NS_B" ping -i 0.005 -W 1 "$TIP_A"
# A -> B traffic whose UDP sends fail
phase unreach tx_send_error "nsa ip route del 192.168.241.0/24 dev $VA_B" \
  "nsa ip route add 192.168.241.0/24 dev $VA_B" \
  ip netns exec "$NS_A" ping -i 0.005 -W 1 "$TIP_B"
# A -> B at ~3000 datagrams/s (~17 Mbit/s) into a 100 kbit/s link with a 16 MB queue
phase eagain tx_send_error "nsa tc qdisc add dev $VA_B root tbf rate 100kbit burst 1600 limit 2000000" \
  "nsa tc -s qdisc show dev $VA_B | sed -n 's/.*dropped \([0-9]*\).*/\1/p' | head -1 >$T/qdrops; nsa tc qdisc del dev $VA_B root" \
  ip netns exec "$NS_A" "$BUILD/battery_tool" garbage "$TIP_B" 9 $((secs * 3000)) 3000 "$TIP_A" 1 /nonexistent

# UAPI socket file removed: A stops on its own
t0=$(date +%s.%N)
rm "/var/run/wireguard/$IF_A.sock"
rc=0; timeout 5 tail --pid="$PID_A" -f /dev/null || fail "A still running 5 s after its socket was removed"
wait "$PID_A" || rc=$?
[ "$rc" = 0 ] || fail "A exited with $rc after its socket was removed"
ta=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
# B's interface deleted: B stops, removes its socket
t0=$(date +%s.%N)
nsb ip link del "$IF_B"
timeout 5 tail --pid="$PID_B" -f /dev/null || fail "B still running 5 s after its interface was deleted"
rc=0; wait "$PID_B" || rc=$?
[ "$rc" = 0 ] || fail "B exited with $rc after its interface was deleted"
[ ! -e "/var/run/wireguard/$IF_B.sock" ] || fail "B left its socket file behind"
tb=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
check_sanitizers
result "${figures[*]}" "uapi_socket_deleted: exit 0 after ${ta}s" "interface_deleted: exit 0 after ${tb}s"
