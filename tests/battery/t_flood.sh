#!/usr/bin/env bash
# Handshake flood: initiations with a valid mac1 for A's key (so each would cost A a DH if it
# were not under load), sent as fast as this machine can from NSRC attacker addresses, while B
# streams TCP (iperf3) to A through the tunnel.
#
# Asserts what holds on any machine: A alive; under load engaged; cookie replies sent (A's
# counter) and received by the attacker; no RNG failure; A's RSS growth <= 16 MiB (before ->
# max during -> after); the legitimate stream keeps moving during the flood; it recovers
# (ping back within 3 s of the flood's end, throughput after >= 0.5 (short) / 0.8 (long) of
# idle) and a fresh handshake (B's peer re-created) completes, during the flood (within
# HS_WAIT s: B's endpoint is one A's shedding filter always passes, the cookie round trip
# costs B one 5 s retry) and after it. Kernel-side shedding (src/device/shed.c): the filter
# is attached during the flood (or its failure counted) and removed once the load is over.
# Reports the throughput ratio (during the flood / beside a control sender: the same tool, rate
# and duration aimed at a closed port, which measures what the attacker's own CPU takes from
# this machine; and / idle), cookie replies/s, CPU cores of A, B, the attacker and the
# machine's softirq share, and A's CPU per flood message in a flood-only window. The ratio is
# asserted only when FLOOD_MIN_RATIO is set (issue 6's target is 0.80): on a small shared
# machine it swings with the other load (see docs/battery.md).
# Sizes: --short 256 sources, 8 s flood; --long 1024 sources, 60 s (FLOOD_SECONDS overrides),
# plus HS_WAIT (12) s for the handshake during the flood.
#
# Pinned mode (FLOOD_PIN=1, or run.sh --pin): the attacker as another machine would be. The
# attacker (battery_tool flood, and the control sender) runs on one CPU, everything of the
# legitimate path (daemons A and B with all their threads, both iperf3 ends, ping) on another
# (FLOOD_PIN_CPUS=LEGIT,ATTACKER, default 0,1), in every window (idle, control, during, after),
# so "normal" and "during the flood" are measured in the same placement. The kernel's receive
# work is placed as on two hosts: a veth delivers a packet in the sender's softirq, so RPS on
# the receiving veths moves the flood's receive in A's namespace (IP, UDP, A's shedding filter)
# to the legitimate CPU, the victim's, and the attacker's receive of A's cookie replies to the
# attacker's CPU (FLOOD_PIN_RPS=0 leaves the kernel's default placement). The daemons' crypto
# pools follow their affinity (one worker each, pinned).
# Fewer than 2 usable CPUs: the test fails rather than run unpinned. With FLOOD_MIN_RATIO set,
# the pinned mode asserts it against idle (the issue's "normal") as well as against the control
# run (FLOOD_PERF=FILE records a perf profile of A during the flood's stream window). Every
# window reports per-CPU busy and softirq cores and the packets the kernel received
# on each CPU (/proc/stat, /proc/net/softnet_stat).
BAT_NAME=flood
source "$(dirname "$0")/lib.sh"

if [ "$MODE" = long ]; then nsrc=1024 secs=${FLOOD_SECONDS:-60}; else nsrc=256 secs=${FLOOD_SECONDS:-8}; fi
measure=$((secs - 4)) # iperf3 seconds inside the flood window
hs_wait=12
rss_limit_kb=$((16 * 1024))
min_ratio=${FLOOD_MIN_RATIO:-0}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

pin=${FLOOD_PIN:-0}
LEGIT=() ATTACK=() placement=unpinned
if [ "$pin" = 1 ]; then
  pin_cpus=${FLOOD_PIN_CPUS:-0,1}
  cl=${pin_cpus%%,*} ca=${pin_cpus#*,}
  [ "$(nproc)" -ge 2 ] || fail "FLOOD_PIN=1 needs 2 CPUs; this process may run on $(nproc) (nproc): not running unpinned instead"
  [[ "$cl" =~ ^[0-9]+$ && "$ca" =~ ^[0-9]+$ && "$cl" != "$ca" ]] || \
    fail "FLOOD_PIN_CPUS=$pin_cpus: want two different CPU numbers, LEGIT,ATTACKER"
  for c in "$cl" "$ca"; do
    taskset -c "$c" true 2>/dev/null || fail "FLOOD_PIN=1: cannot run on CPU $c (this process may use $(taskset -pc $$ | sed 's/.*: //'))"
  done
  LEGIT=(taskset -c "$cl") ATTACK=(taskset -c "$ca")
  BAT_DAEMON_CPUS=$cl
  placement="pinned legit=cpu$cl attacker=cpu$ca rps=${FLOOD_PIN_RPS:-1}"
elif [ "$pin" != 0 ]; then
  fail "FLOOD_PIN=$pin: 0 or 1"
fi

bat_topology "$nsrc"
# rps NS DEV CPU: the kernel receives DEV's packets on CPU (a veth otherwise delivers in the
# sender's softirq, on the sender's CPU)
rps() {
  ip netns exec "$1" sh -c "printf '%x' $((1 << $3)) >/sys/class/net/$2/queues/rx-0/rps_cpus" || fail "RPS on $2"
}
if [ "$pin" = 1 ] && [ "${FLOOD_PIN_RPS:-1}" = 1 ]; then
  rps "$NS_A" "$VA_C" "$cl"; rps "$NS_C" "$VC_A" "$ca"; rps "$NS_A" "$VA_B" "$cl"; rps "$NS_B" "$VB_A" "$cl"
fi
bat_pair
# affinity PID: the CPU lists its threads may run on (distinct ones)
affinity() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^Cpus_allowed_list/ {print $2}' | sort -u | paste -sd' '; }
if [ "$pin" = 1 ]; then
  for p in "$PID_A" "$PID_B"; do
    [ "$(affinity "$p")" = "$cl" ] || fail "daemon $p not pinned to CPU $cl: $(affinity "$p")"
  done
fi
workers_a=$(sed -n 's/.*crypto workers: \([0-9]*\).*/\1/p' "$T/daemonA.log" | tail -1)
log "placement: $placement; A: $(nthreads "$PID_A") threads, crypto workers ${workers_a:-?}; load $load_start"

# snap NAME: per-CPU jiffies and kernel receive counters now
snap() {
  cat /proc/stat >"$T/snap.$1.stat"; cat /proc/net/softnet_stat >"$T/snap.$1.net"
  echo "$(date +%s.%N) $(cpu_s "$PID_A") $(cpu_s "$PID_B")" >"$T/snap.$1.ab"
}
# percpu A B: per CPU between snaps A and B: busy and softirq (in cores) and the packets the
# kernel's receive processed there (softnet: backlog and NAPI, whatever CPU the sender was on);
# then the cores daemons A and B used in that window
percpu() {
  python3 - "$T/snap.$1" "$T/snap.$2" "$(getconf CLK_TCK)" <<'PY'
import sys
def rd(base):
    cpu, net = {}, {}
    for l in open(base + ".stat"):
        w = l.split()
        if w[0].startswith("cpu") and w[0] != "cpu":
            v = [int(x) for x in w[1:9]]  # user nice system idle iowait irq softirq steal
            cpu[int(w[0][3:])] = (sum(v) - v[3] - v[4], v[6], sum(v))
    for i, l in enumerate(open(base + ".net")):
        w = l.split()
        net[int(w[12], 16) if len(w) >= 13 else i] = (int(w[0], 16), int(w[1], 16))
    return cpu, net
(c0, n0), (c1, n1) = rd(sys.argv[1]), rd(sys.argv[2])
hz, out = float(sys.argv[3]), []
for c in sorted(c1):
    if c not in c0:
        continue
    t = c1[c][2] - c0[c][2]
    if t <= 0:
        continue
    rx = (n1.get(c, (0, 0))[0] - n0.get(c, (0, 0))[0]) * hz / t
    drop = n1.get(c, (0, 0))[1] - n0.get(c, (0, 0))[1]
    out.append("cpu%d busy=%.2f softirq=%.2f rx=%.0f/s%s" % (c, (c1[c][0] - c0[c][0]) / t,
               (c1[c][1] - c0[c][1]) / t, rx, " backlog_drops=%d" % drop if drop else ""))
t0, a0, b0 = map(float, open(sys.argv[1] + ".ab").read().split())
t1, a1, b1 = map(float, open(sys.argv[2] + ".ab").read().split())
out.append("daemons A=%.2f B=%.2f" % ((a1 - a0) / (t1 - t0), (b1 - b0) / (t1 - t0)))
print(", ".join(out))
PY
}

iperf() { # iperf3 -t SECONDS from B to A; prints Mbit/s received
  local s=$1 port=$2
  nsa "${LEGIT[@]}" iperf3 -s -1 -B "$TIP_A" -p "$port" >/dev/null 2>&1 &
  BAT_PIDS+=("$!")
  sleep 0.5
  snap "$port.0"
  nsb "${LEGIT[@]}" iperf3 -c "$TIP_A" -p "$port" -t "$s" -J >"$T/iperf.$port.json" 2>&1 || fail "iperf3: $(tail -3 "$T/iperf.$port.json")"
  snap "$port.1"
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e6, 1))' "$T/iperf.$port.json"
}
# The attacker, started without a shell in between so $! is the sender itself (ip netns exec
# and taskset exec it): its CPU time is then readable.
flooder() { # PORT OUT LOG SECONDS
  ip netns exec "$NS_C" "${ATTACK[@]}" "$BUILD/battery_tool" flood "$IP_AC" "$1" "$(hexkey "$PUB_A")" "$4" \
    "$SRC_BASE" "$nsrc" >"$2" 2>"$3" &
  FPID=$!
  BAT_PIDS+=("$FPID")
  if [ "$pin" = 1 ]; then
    sleep 0.2
    [ "$(affinity "$FPID")" = "$ca" ] || fail "attacker $FPID not pinned to CPU $ca: $(affinity "$FPID")"
  fi
}
# Machine-wide CPU jiffies: "busy softirq total" (all cores, /proc/stat).
jiffies() { awk '/^cpu / {t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, $8, t}' /proc/stat; }

base=$(iperf "$measure" 5201)
flooder 9 "$T/control.out" "$T/control.log" "$secs"
cpid=$FPID
sleep 1.5
control=$(iperf "$measure" 5204)
wait "$cpid" || fail "control sender: $(cat "$T/control.log")"
sleep 1
s0=$(stats "$PID_A" "$T/daemonA.log")
rss0=$(rss_kb "$PID_A")
rcv0=$(udp_rcvbuf_errors "$NS_A")
log "baseline ${base} Mbit/s, ${control} Mbit/s beside the control sender ($(cat "$T/control.out")); flood ${secs}s from $nsrc sources"

flooder "$PORT_A" "$T/flood.out" "$T/flood.log" $((secs + hs_wait))
fpid=$FPID
# Flood only (no stream yet): A's CPU per handshake message it took off the socket.
sleep 0.5
q0=$(stats "$PID_A" "$T/daemonA.log"); qa0=$(cpu_s "$PID_A"); qr0=$(udp_rcvbuf_errors "$NS_A"); snap fo.0
sleep 1
q1=$(stats "$PID_A" "$T/daemonA.log"); qa1=$(cpu_s "$PID_A"); qr1=$(udp_rcvbuf_errors "$NS_A"); snap fo.1
hs_msgs() { echo $(( $(stat_get "$1" under_load_batches) + $(stat_get "$1" rx_handshake_queue_full) )); }
nq=$(( $(hs_msgs "$q1") - $(hs_msgs "$q0") ))
# A build without shedding (to compare before/after with this script): its counters read 0.
shed_stat() { local v; v=$(stat_get "$1" "$2"); echo "${v:-0}"; }
# What reached A's socket: taken off it, or dropped by the kernel: shed by the filter
# (kernel_shed, which also holds any receive-buffer overflow of a filtered socket), else the
# receive-buffer overflow.
nshed=$(( $(shed_stat "$q1" kernel_shed) - $(shed_stat "$q0" kernel_shed) ))
[ "$nshed" -gt 0 ] || nshed=$((qr1 - qr0))
per_msg=$(awk -v c0="$qa0" -v c1="$qa1" -v n="$nq" 'BEGIN {printf "%.2f", (n > 0 ? (c1 - c0) * 1e6 / n : 0)}')
per_arrived=$(awk -v c0="$qa0" -v c1="$qa1" -v n="$((nq + nshed))" 'BEGIN {printf "%.2f", (n > 0 ? (c1 - c0) * 1e6 / n : 0)}')
log "flood only: A took $nq handshake messages in 1 s at ${per_msg} us of CPU each; the kernel shed $nshed; ${per_arrived} us per arrived flood message"

# FLOOD_PERF=FILE: perf record -g of A over the stream's window during the flood (perf itself
# on the attacker's CPU when pinned)
if [ -n "${FLOOD_PERF:-}" ]; then
  "${ATTACK[@]}" perf record -q -g -o "$FLOOD_PERF" -p "$PID_A" -- sleep "$measure" >/dev/null 2>&1 &
  BAT_PIDS+=("$!")
fi
ca0=$(cpu_s "$PID_A") cb0=$(cpu_s "$PID_B") cc0=$(cpu_s "$fpid") t0=$(date +%s.%N) j0=$(jiffies)
during=$(iperf "$measure" 5202)
log "legit during the flood: ${during} Mbit/s"
ca1=$(cpu_s "$PID_A") cb1=$(cpu_s "$PID_B") cc1=$(cpu_s "$fpid" 2>/dev/null || echo "$cc0") t1=$(date +%s.%N) j1=$(jiffies)
cpu_share() { awk -v a="$1" -v b="$2" -v t0="$t0" -v t1="$t1" 'BEGIN {printf "%.2f", (b - a) / (t1 - t0)}'; }
machine=$(awk -v a="$j0" -v b="$j1" -v n="$(nproc)" 'BEGIN {split(a, x, " "); split(b, y, " ");
  t = y[3] - x[3]; printf "busy=%.2f softirq=%.2f", n * (y[1] - x[1]) / t, n * (y[2] - x[2]) / t}')
cpu_line="cpu_cores_during_flood: A=$(cpu_share "$ca0" "$ca1") B=$(cpu_share "$cb0" "$cb1") attacker=$(cpu_share "$cc0" "$cc1") machine($(nproc) cores) $machine"
log "$cpu_line (attacker pid $fpid: $cc0 -> $cc1 s)"
rtt=$(nsb "${LEGIT[@]}" ping -c 20 -i 0.05 -q "$TIP_A" 2>/dev/null | sed -n 's/.*= [0-9.]*\/\([0-9.]*\)\/.*/\1/p')
log "legit ping rtt avg during the flood: ${rtt:-?} ms; A rcvbuf drops so far $(( $(udp_rcvbuf_errors "$NS_A") - rcv0 ))"
rss_max=$(rss_kb "$PID_A")
s1=$(stats "$PID_A" "$T/daemonA.log")
# A fresh handshake during the flood: B forgets A and re-adds it (same source address and
# port, so A's filter passes it; under load A answers with a cookie, B's retry carries mac2).
nsb wg set "$IF_B" peer "$PUB_A" remove
nsb wg set "$IF_B" peer "$PUB_A" preshared-key <(echo "$PSK") endpoint "$IP_A:$PORT_A" allowed-ips "$TIP_A/32"
th0=$(date +%s.%N) hs_during=
for _ in $(seq "$hs_wait"); do
  if nsb "${LEGIT[@]}" ping -c 1 -W 1 "$TIP_A" >/dev/null 2>&1; then
    hs_during=$(awk -v a="$th0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}'); break
  fi
done
kill -0 "$fpid" 2>/dev/null || fail "the flood ended before the handshake check did (${hs_during:-none} s)"
[ -n "$hs_during" ] || fail "no fresh handshake within ${hs_wait} s during the flood"
s1h=$(stats "$PID_A" "$T/daemonA.log")
[ "$(( $(stat_get "$s1h" under_load_batches) - $(stat_get "$s1" under_load_batches) ))" -gt 0 ] || \
  fail "the handshake during the flood was not under load"
log "fresh handshake during the flood: ${hs_during} s"
wait "$fpid" || fail "flood sender: $(cat "$T/flood.log")"
tend=$(date +%s.%N)
alive "$PID_A" "daemon A"
r=$(rss_kb "$PID_A"); [ "$r" -gt "$rss_max" ] && rss_max=$r
rcv1=$(udp_rcvbuf_errors "$NS_A")
# Recovery: the first ping answered after the flood's end.
recovery=
for _ in $(seq 15); do
  if nsb "${LEGIT[@]}" ping -c 1 -W 0.2 "$TIP_A" >/dev/null 2>&1; then
    recovery=$(awk -v a="$tend" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
    break
  fi
done
[ -n "$recovery" ] || fail "no ping answered within 3 s after the flood"
sleep 1.5 # under load ends 1 s after the queue was last deep (or the kernel last shed)
# Recovery throughput: up to 3 windows, the first that reaches the bound ends it. One window
# can land in another job's burst on this shared machine (2 of ~20 short runs fell below 0.5
# of idle that way); a daemon that stays degraded fails all three.
if [ "$MODE" = long ]; then rec=0.8; else rec=0.5; fi
after= afters=
for port in 5203 5206 5207; do
  after=$(iperf "$measure" "$port")
  afters="${afters:+$afters }$after"
  awk -v a="$after" -v b="$base" -v m="$rec" 'BEGIN {exit !(a >= m * b)}' && break
done
log "legit after the flood: ${after} Mbit/s (windows: $afters)"
percpu_line="per-CPU idle: $(percpu 5201.0 5201.1); control: $(percpu 5204.0 5204.1); flood only: $(percpu fo.0 fo.1); during: $(percpu 5202.0 5202.1); after: $(percpu "$port.0" "$port.1")"
log "$percpu_line"
rss_after=$(rss_kb "$PID_A")
# a fresh handshake after the flood: B forgets A and re-adds it
nsb wg set "$IF_B" peer "$PUB_A" remove
nsb wg set "$IF_B" peer "$PUB_A" preshared-key <(echo "$PSK") endpoint "$IP_A:$PORT_A" allowed-ips "$TIP_A/32"
nsb "${LEGIT[@]}" ping -c 3 -W 3 "$TIP_A" >/dev/null || fail "no fresh handshake after the flood"
s2=$(stats "$PID_A" "$T/daemonA.log")
log "flood: $(cat "$T/flood.out")"
log "A stats: $s2"
delta() { echo $(( $(stat_get "$2" "$1") - $(stat_get "$s0" "$1") )); }
cookies=$(delta cookie_replies_sent "$s1")
got_cookies=$(sed 's/.*cookie_replies=\([0-9]*\).*/\1/' "$T/flood.out")
raw_ratio=$(awk -v a="$during" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
ratio=$(awk -v a="$during" -v b="$control" 'BEGIN {printf "%.2f", a / b}')
ratio_after=$(awk -v a="$after" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
[ "$(delta under_load_batches "$s1")" -gt 0 ] || fail "never under load during the flood"
[ "$cookies" -gt 0 ] || fail "no cookie replies sent under the flood"
[ "$got_cookies" -gt 0 ] || fail "no cookie reply reached the attacker"
[ "$(stat_get "$s2" rng_error)" = 0 ] || fail "random source failures: $(stat_get "$s2" rng_error)"
sdelta() { echo $(( $(shed_stat "$2" "$1") - $(shed_stat "$s0" "$1") )); }
shed_set=$(sdelta shed_filter_set "$s2") shed_clr=$(sdelta shed_filter_cleared "$s2") shed_err=$(sdelta shed_filter_error "$s2")
if [ -z "$(stat_get "$s2" shed_filter_set)" ]; then
  log "this build has no kernel-side shedding: its checks skipped"
else
  [ "$shed_set" -gt 0 ] || [ "$shed_err" -gt 0 ] || fail "no shedding filter attached (or failed) during the flood"
fi
[ "$shed_set" -eq 0 ] || [ "$shed_clr" -gt 0 ] || fail "the shedding filter was never removed"
# The last word of A's log for each socket: the filter is off once the load is over.
for fam in v4 v6; do
  last=$(grep "shedding $fam:" "$T/daemonA.log" | grep -v ' in [0-9]' | tail -1 || true)
  [ -z "$last" ] || [[ "$last" == *"off (load over)"* ]] || fail "filter still on after the flood ($fam): $last"
done
[ $((rss_max - rss0)) -le $rss_limit_kb ] || fail "RSS grew $((rss_max - rss0)) kB"
[ $((rss_after - rss0)) -le $rss_limit_kb ] || fail "RSS after the flood $((rss_after - rss0)) kB above before"
awk -v d="$during" 'BEGIN {exit !(d > 0)}' || fail "the legitimate stream stopped during the flood"
awk -v r="$ratio" -v m="$min_ratio" 'BEGIN {exit !(r >= m)}' || \
  fail "legitimate throughput during the flood ${during} Mbit/s = ${ratio} of ${control} beside the control sender (< $min_ratio; ${raw_ratio} of the idle ${base})"
# pinned, idle is "normal" as the issue means it (the attacker's CPU is not the victim's)
[ "$pin" != 1 ] || awk -v r="$raw_ratio" -v m="$min_ratio" 'BEGIN {exit !(r >= m)}' || \
  fail "pinned: legitimate throughput during the flood ${during} Mbit/s = ${raw_ratio} of the idle ${base} (< $min_ratio; ${ratio} of ${control} beside the control sender)"
# recovery: >= 0.8 of idle in --long; >= 0.5 in --short (back-to-back runs on the shared
# machine differ by up to ~25% without any flood), in one of the windows above
awk -v r="$ratio_after" -v m="$rec" 'BEGIN {exit !(r >= m)}' || fail "no recovery: ${afters} Mbit/s in 3 windows after the flood (idle ${base})"
# The pass rates the shedding filter was set to (p = N/256 since 2026-12-02: 64 = the floor,
# below it only while A's queue overflowed; N/16 before); FLOOD_SHEDLOG=FILE keeps A's
# per-period shedding lines.
shed_ps=$(sed -n 's/.*shedding v[46]: p=\([0-9]*\)\/.*/\1/p' "$T/daemonA.log" | sort -n)
if [ -n "$shed_ps" ]; then
  np=$(echo "$shed_ps" | wc -l)
  shed_den=$(sed -n 's/.*shedding v[46]: p=[0-9]*\/\([0-9]*\),.*/\1/p' "$T/daemonA.log" | head -1)
  shed_p="of_$shed_den n=$np min=$(echo "$shed_ps" | head -1) median=$(echo "$shed_ps" | sed -n "$(( (np + 1) / 2 ))p") max=$(echo "$shed_ps" | tail -1)"
fi
[ -z "${FLOOD_SHEDLOG:-}" ] || grep 'shedding' "$T/daemonA.log" >"$FLOOD_SHEDLOG" || true
check_sanitizers
result "flood $(sed 's/ other_replies=[0-9]*//' "$T/flood.out")" \
  "placement=$placement crypto_workers_A=${workers_a:-?} load_at_start=$load_start" \
  "throughput_ratio=$ratio (of beside_control_sender; $raw_ratio of idle; asserted>=$min_ratio$([ "$pin" = 1 ] && echo ' for both'))" \
  "legit_mbit idle=$base beside_control_sender=$control during_flood=$during after=$after (ratio $ratio_after of idle)" \
  "cookie_replies_per_s=$((cookies / secs)) daemon cookie_replies_sent=$cookies under_load_msgs=$(delta under_load_batches "$s1")" \
  "rx_ratelimited=$(delta rx_ratelimited "$s1") rx_handshake_queue_full=$(delta rx_handshake_queue_full "$s1") kernel_rcvbuf_drops=$((rcv1 - rcv0))" \
  "shedding: kernel_shed=$(sdelta kernel_shed "$s2") filter_set=$shed_set cleared=$shed_clr errors=$shed_err p: ${shed_p:-none}" \
  "daemon_us_per_flood_msg=$per_msg ($nq msgs/s taken, flood only) per_arrived=$per_arrived ($((nq + nshed))/s arrived)" "$cpu_line" \
  "fresh_handshake_during_flood_s=$hs_during" \
  "rss_kb before=$rss0 max_during=$rss_max after=$rss_after" "recovery_s=$recovery" \
  "legit_rtt_ms_during=${rtt:-?} control_sender: $(sed 's/ cookie_replies=.*//' "$T/control.out")" "$percpu_line"
