#!/usr/bin/env bash
# Handshake flood: initiations with a valid mac1 for A's key (so each would cost A a DH if it
# were not under load), sent as fast as this machine can from NSRC attacker addresses, while B
# streams TCP (iperf3) to A through the tunnel.
# Asserts: A alive; cookie replies are sent (A's counter) and arrive at the attacker;
# B's throughput during the flood >= 80% of its throughput measured just before, in the same
# run; A's RSS growth <= 16 MiB; after the flood, B's throughput is back and a fresh handshake
# (B's peer re-created) completes.
# Sizes: --short 256 sources, 8 s flood; --long 1024 sources, 60 s (FLOOD_SECONDS overrides).
BAT_NAME=flood
source "$(dirname "$0")/lib.sh"

if [ "$MODE" = long ]; then nsrc=1024 secs=${FLOOD_SECONDS:-60}; else nsrc=256 secs=${FLOOD_SECONDS:-8}; fi
measure=$((secs - 3)) # iperf3 seconds inside the flood window
rss_limit_kb=$((16 * 1024))
min_ratio=${FLOOD_MIN_RATIO:-0.80}

bat_topology "$nsrc"
bat_pair

iperf() { # iperf3 -t SECONDS from B to A; prints Mbit/s received
  local s=$1 port=$2
  nsa iperf3 -s -1 -B "$TIP_A" -p "$port" >/dev/null 2>&1 &
  BAT_PIDS+=("$!")
  sleep 0.5
  nsb iperf3 -c "$TIP_A" -p "$port" -t "$s" -J >"$T/iperf.$port.json" 2>&1 || fail "iperf3: $(tail -3 "$T/iperf.$port.json")"
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e6, 1))' "$T/iperf.$port.json"
}

base=$(iperf "$measure" 5201)
s0=$(stats "$PID_A" "$T/daemonA.log")
rss0=$(rss_kb "$PID_A")
rcv0=$(udp_rcvbuf_errors "$NS_A")
log "baseline ${base} Mbit/s; flood ${secs}s from $nsrc sources"
nsc "$BUILD/battery_tool" flood "$IP_AC" "$PORT_A" "$(hexkey "$PUB_A")" "$secs" "$SRC_BASE" "$nsrc" \
  >"$T/flood.out" 2>"$T/flood.log" &
fpid=$!; BAT_PIDS+=("$fpid")
sleep 1.5
during=$(iperf "$measure" 5202)
rss_max=$(rss_kb "$PID_A")
s1=$(stats "$PID_A" "$T/daemonA.log")
wait "$fpid" || fail "flood sender: $(cat "$T/flood.log")"
alive "$PID_A" "daemon A"
r=$(rss_kb "$PID_A"); [ "$r" -gt "$rss_max" ] && rss_max=$r
rcv1=$(udp_rcvbuf_errors "$NS_A")
sleep 2 # under-load ends 1 s after the last burst
after=$(iperf 3 5203)
# a fresh handshake after the flood: B forgets A and re-adds it
nsb wg set "$IF_B" peer "$PUB_A" remove
nsb wg set "$IF_B" peer "$PUB_A" preshared-key <(echo "$PSK") endpoint "$IP_A:$PORT_A" allowed-ips "$TIP_A/32"
nsb ping -c 3 -W 3 "$TIP_A" >/dev/null || fail "no fresh handshake after the flood"
s2=$(stats "$PID_A" "$T/daemonA.log")
log "flood: $(cat "$T/flood.out")"
log "A stats: $s2"
cookies=$(( $(stat_get "$s1" cookie_replies_sent) - $(stat_get "$s0" cookie_replies_sent) ))
got_cookies=$(sed 's/.*cookie_replies=\([0-9]*\).*/\1/' "$T/flood.out")
ratio=$(awk -v a="$during" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
ratio_after=$(awk -v a="$after" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
[ "$cookies" -gt 0 ] || fail "no cookie replies sent under the flood"
[ "$got_cookies" -gt 0 ] || fail "no cookie reply reached the attacker"
[ $((rss_max - rss0)) -le $rss_limit_kb ] || fail "RSS grew $((rss_max - rss0)) kB"
awk -v r="$ratio" -v m="$min_ratio" 'BEGIN {exit !(r >= m)}' || \
  fail "legitimate throughput during the flood ${during} Mbit/s = ${ratio} of ${base} (< $min_ratio)"
awk -v r="$ratio_after" 'BEGIN {exit !(r >= 0.8)}' || fail "no recovery: ${after} Mbit/s after the flood"
check_sanitizers
result "flood $(sed 's/ other_replies=[0-9]*//' "$T/flood.out")" \
  "kernel_rcvbuf_drops=$((rcv1 - rcv0)) daemon cookie_replies_sent=$cookies under_load_batches=$(stat_get "$s2" under_load_batches)" \
  "rx_mac=$(stat_get "$s2" rx_mac) rx_decrypt=$(stat_get "$s2" rx_decrypt) rx_ratelimited=$(stat_get "$s2" rx_ratelimited)" \
  "legit_mbit baseline=$base during=$during (ratio $ratio) after=$after (ratio $ratio_after)" \
  "rss_kb=$rss0->max $rss_max"
