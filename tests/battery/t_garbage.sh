#!/usr/bin/env bash
# Garbage barrage: hostile datagrams (random, truncated, wrong type, wrong length, replayed and
# bit-flipped captured packets, valid headers with bad MACs) at daemon A from 16 attacker
# addresses while B streams hashed data to A through the tunnel.
# Asserts: A alive; every stream during the barrage arrives complete with the right SHA-256;
# RSS growth bounded; A's drop counters account for every garbage datagram the kernel handed
# it (sent - UDP receive-buffer drops <= counted drops <= sent).
# Sizes: --short 200,000 datagrams, --long 1,200,000 (GARBAGE_COUNT / GARBAGE_PPS override).
BAT_NAME=garbage
source "$(dirname "$0")/lib.sh"

if [ "$MODE" = long ]; then count=${GARBAGE_COUNT:-1200000}; else count=${GARBAGE_COUNT:-200000}; fi
pps=${GARBAGE_PPS:-100000}
stream_bytes=$((16 << 20))
rss_limit_kb=$((16 * 1024))

bat_topology 16
bat_pair

stream() { # one hashed stream B -> A; fails unless it arrives intact
  local port=$1 out
  nsa "$BUILD/battery_tool" sink "$TIP_A" "$port" 30 >"$T/sink.$port" &
  local sp=$!; BAT_PIDS+=("$sp")
  for _ in $(seq 50); do grep -q listening "$T/sink.$port" && break; sleep 0.1; done
  out=$(nsb "$BUILD/battery_tool" source "$TIP_A" "$port" "$stream_bytes") || fail "stream source failed"
  wait "$sp" || fail "stream sink failed"
  local got; got=$(grep bytes= "$T/sink.$port")
  [ "${out%% *}" = "${got%% *}" ] || fail "stream length: sent '$out' got '$got'"
  [ "$(sed 's/.*sha256=\([0-9a-f]*\).*/\1/' <<<"$out")" = "$(sed 's/.*sha256=\([0-9a-f]*\).*/\1/' <<<"$got")" ] \
    || fail "stream corrupted: sent '$out' got '$got'"
  sed 's/.*mbit=//' <<<"$got"
}

# Real packets to replay and bit-flip: capture B -> A datagrams during a first stream.
nsb "$BUILD/battery_tool" capture "$VB_A" "$PORT_A" 2000 "$T/capture.bin" 20 >"$T/capture.out" &
cap_pid=$!; BAT_PIDS+=("$cap_pid")
sleep 0.3
base_mbit=$(stream 6000)
wait "$cap_pid" || fail "capture failed: $(cat "$T/capture.out")"
log "baseline stream ${base_mbit} Mbit/s; $(cat "$T/capture.out")"

s0=$(stats "$PID_A" "$T/daemonA.log")
rcv0=$(udp_rcvbuf_errors "$NS_A")
rss0=$(rss_kb "$PID_A")
cpu0=$(cpu_s "$PID_A")
log "barrage: $count datagrams at <= $pps/s; A rss ${rss0} kB"
nsc "$BUILD/battery_tool" garbage "$IP_AC" "$PORT_A" "$count" "$pps" "$SRC_BASE" 16 "$T/capture.bin" \
  >"$T/garbage.out" 2>"$T/garbage.log" &
gpid=$!; BAT_PIDS+=("$gpid")
streams=0 rss_max=$rss0 port=6001 mbits=()
while kill -0 "$gpid" 2>/dev/null; do
  mbits+=("$(stream $port)")
  streams=$((streams + 1)) port=$((port + 1))
  alive "$PID_A" "daemon A"
  r=$(rss_kb "$PID_A"); [ "$r" -gt "$rss_max" ] && rss_max=$r
done
wait "$gpid" || fail "garbage sender failed: $(cat "$T/garbage.log")"
sleep 1 # let A drain its socket
alive "$PID_A" "daemon A"
after_mbit=$(stream 7000)
s1=$(stats "$PID_A" "$T/daemonA.log")
rcv1=$(udp_rcvbuf_errors "$NS_A")
cpu1=$(cpu_s "$PID_A")
r=$(rss_kb "$PID_A"); [ "$r" -gt "$rss_max" ] && rss_max=$r
sent=$(sed 's/.*sent=\([0-9]*\).*/\1/' "$T/garbage.out")
drops=$(( $(stat_rx_drops "$s1") - $(stat_rx_drops "$s0") ))
rcvbuf=$((rcv1 - rcv0))
log "garbage: $(cat "$T/garbage.out")"
log "A stats after: $s1"
[ "$sent" -ge "$count" ] || fail "sent only $sent of $count"
[ "$streams" -ge 1 ] || fail "no stream ran during the barrage"
[ $((rss_max - rss0)) -le $rss_limit_kb ] || fail "RSS grew $((rss_max - rss0)) kB (> $rss_limit_kb)"
# every datagram that reached A's socket is counted as exactly one drop (legitimate traffic
# is not dropped: allow 100 for the odd legitimate drop)
[ "$drops" -le $((sent + 100)) ] || fail "more drops ($drops) than garbage sent ($sent)"
[ "$drops" -ge $((sent - rcvbuf - 100)) ] || \
  fail "drops not accounted: counted $drops, sent $sent, kernel receive-buffer drops $rcvbuf"
check_sanitizers
result "sent=$sent handled_by_daemon=$((sent - rcvbuf)) counted_drops=$drops kernel_rcvbuf_drops=$rcvbuf" \
  "streams_during=$streams x $((stream_bytes >> 20)) MiB sha256-ok" \
  "stream_mbit_baseline=$base_mbit during=[${mbits[*]}] after=$after_mbit" \
  "rss_kb=$rss0->max $rss_max cpu_s=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN {print b - a}')" \
  "counters: $(tr ' ' '\n' <<<"$s1" | grep -E '^rx_' | grep -v '=0$' | paste -sd' ')" \
  "classes: $(sed 's/.*captured_templates=/templates=/' "$T/garbage.out")"
