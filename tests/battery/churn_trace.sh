#!/usr/bin/env bash
# Diagnostic (not part of the battery): the churn of t_churn.sh with ONE iperf3 connection
# through it, a packet capture of A's namespace and a wall-clock trace of every operation,
# to take a stall apart (docs/battery.md, "Churn stall"). Needs tcpdump.
#   BUILD=build OUT=DIR [CHURN_SECONDS=30] [CHURN_RATE=120] bash tests/battery/churn_trace.sh
# OUT gets a.pcap (tcpdump -r a.pcap -n -tt), iperf.txt (0.5 s intervals), churn.log
# ("trace SECONDS.USEC KIND" lines), wgdump.txt (both daemons' `wg show dump` every 0.2 s).
BAT_NAME=churn_trace
source "$(dirname "$0")/lib.sh"
command -v tcpdump >/dev/null || fail "needs tcpdump"
secs=${CHURN_SECONDS:-30} rate=${CHURN_RATE:-120} out=${OUT:?OUT dir}
mkdir -p "$out"
bat_topology 1
bat_pair
nsa wg set "$IF_A" peer "$PUB_B" persistent-keepalive 1
nsa ip route add 10.241.0.0/16 dev "$IF_A"
sleep 1
bg nsa tcpdump -i any -n -tt -U -s 128 -w "$T/a.pcap" 'udp or tcp port 5201'
sleep 1
bg nsa iperf3 -s -1 -B "$TIP_A" -p 5201
sleep 0.3
nsb iperf3 -c "$TIP_A" -p 5201 -t $((secs + 2)) -i 0.5 --forceflush --timestamps='%s ' \
  >"$T/iperf.txt" 2>&1 &
ipid=$!; BAT_PIDS+=("$ipid")
bg bash -c "while sleep 0.2; do echo \"T \$(date +%s.%N)\"; ip netns exec $NS_A wg show $IF_A dump;
  ip netns exec $NS_B wg show $IF_B dump; done >'$T/wgdump.txt' 2>&1"
sleep 1
CHURN_TRACE=1 nsa "$BUILD/battery_tool" churn "/var/run/wireguard/$IF_A.sock" "$secs" "$rate" \
  "$(hexkey "$PUB_B")" "$(hexkey "$KEY_A")" "$IP_B:$PORT_B" "$PORT_A" >"$T/churn.out" \
  2>"$T/churn.log" || log "churn tool failed"
wait "$ipid" || log "iperf3 failed"
sleep 1
cp -r "$T"/* "$out"/
# longest run of empty 0.5 s intervals
awk '$9 ~ /bits\/sec/ && $4 ~ /-/ {split($4, a, "-"); if ($8 + 0 == 0 && $9 == "bits/sec") {
  if (!z) s = a[1]; z = 1; e = a[2]} else {if (z && e - s > m) m = e - s; z = 0}}
  END {if (z && e - s > m) m = e - s; printf "longest stall %.1f s\n", m}' "$out/iperf.txt" >&2
log "$(cat "$T/churn.out"); kept in $out"
