#!/usr/bin/env bash
# RTT over a wgtun <-> wgtun tunnel at several busy-poll settings (WGTUN_BUSY_POLL_US), in one
# run and alternating, next to raw veth; optionally TCP 1-stream throughput and daemon CPU.
#
# Usage (as root, from anywhere in a clone):
#     sudo bash bench/latency.sh                          # values 0,50,100,200; 3 rounds
#     sudo bash bench/latency.sh --values 0,100 --rounds 5 --tcp 10
#     sudo bash bench/latency.sh --values 0 --exec 'strace -f -T -ttt -p $PA -o /tmp/a.txt'
#
#     LAT_PREFIX=P    prefix of namespace, veth and interface names (default wgl)
# Options:
#     --values LIST   comma list of WGTUN_BUSY_POLL_US values (default 0,50,100,200)
#     --rounds N      rounds (default 3); odd rounds go through the values in order, even
#                     rounds backwards, so a trend in the machine's load hits all of them
#     --pings N       ping samples per value and round (default 200, 10 ms apart)
#     --tcp S         also iperf3 TCP 1 stream for S seconds per value and round (default 0: no)
#     --idle S        idle window after the pings: loop rounds (context switches) of both
#                     daemons over S seconds, which must be 0 (default 3)
#     --build DIR     cmake Release build dir (default <repo>/build-release)
#     --no-build      don't run cmake
#     --exec CMD      instead of the measurements, run CMD (bash -c) once per value with
#                     NS_A NS_B PA PB T_B exported (PA/PB: daemon PIDs), e.g. strace or perf
# Prints one line per (round, value) and a summary of medians over the rounds: RTT min and
# median (ms), daemon CPU seconds per ping (both daemons, over the ping run), idle context
# switches, and with --tcp Gbit/s and CPU seconds per GB. Cleans up namespaces and daemons on
# any exit. Method: docs/latency.md.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VALUES=0,50,100,200 ROUNDS=3 PINGS=200 TCP=0 IDLE=3 BUILD="$SRC/build-release" DO_BUILD=1 EXEC=""
die() { echo "latency: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --values) VALUES=${2:?}; shift 2 ;;
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --pings) PINGS=${2:?}; shift 2 ;;
    --tcp) TCP=${2:?}; shift 2 ;;
    --idle) IDLE=${2:?}; shift 2 ;;
    --build) BUILD=${2:?}; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --exec) EXEC=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
for v in ROUNDS PINGS; do [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} needs a positive integer"; done
for v in TCP IDLE; do [[ ${!v} =~ ^[0-9]+$ ]] || die "--${v,,} needs an integer"; done
IFS=, read -r -a VALS <<<"$VALUES"
for v in "${VALS[@]}"; do [[ $v =~ ^[0-9]+$ ]] || die "bad value '$v'"; done
[ "$(id -u)" -eq 0 ] || die "must run as root"
for t in ip wg ping python3; do command -v "$t" >/dev/null || die "$t missing"; done
[ "$TCP" = 0 ] || command -v iperf3 >/dev/null || die "iperf3 missing"

WGTUN="$BUILD/wgtun"
if [ "$DO_BUILD" = 1 ]; then
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j2 --target wgtun >/dev/null
fi
[ -x "$WGTUN" ] || die "no $WGTUN"

ID=$$
P=${LAT_PREFIX:-wgl} # names of namespaces, veths and interfaces (unique machine-wide)
NS_A="${P}l$ID-a" NS_B="${P}l$ID-b" VETH_A="${P}l${ID}a" VETH_B="${P}l${ID}b"
IA="${P}t${ID}a" IB="${P}t${ID}b"
U_A=192.168.243.1 U_B=192.168.243.2 T_A=10.243.0.1 T_B=10.243.0.2 PORT_A=51830 PORT_B=51831
W=$(mktemp -d "/tmp/${P}lat.XXXXXX") # scratch: daemon logs, ping and perf output; removed by cleanup
PIDS=()
cleanup() {
  local rc=$? p
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 1 20); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  ip netns del "$NS_A" 2>/dev/null; ip netns del "$NS_B" 2>/dev/null
  rm -f "/var/run/wireguard/$IA.sock" "/var/run/wireguard/$IB.sock"
  rm -rf "$W"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nsa() { ip netns exec "$NS_A" "$@"; }
nsb() { ip netns exec "$NS_B" "$@"; }

ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add "$VETH_A" mtu 1500 netns "$NS_A" type veth peer name "$VETH_B" mtu 1500 netns "$NS_B"
nsa ip link set lo up; nsb ip link set lo up
nsa ip addr add "$U_A/24" dev "$VETH_A"; nsb ip addr add "$U_B/24" dev "$VETH_B"
nsa ip link set "$VETH_A" up; nsb ip link set "$VETH_B" up
(umask 077; wg genkey >"$W/key_a"; wg genkey >"$W/key_b")
PUB_A=$(wg pubkey <"$W/key_a"); PUB_B=$(wg pubkey <"$W/key_b")
# CPU time on the clock in microseconds, all threads (schedstat: exact, unlike the tick-sampled
# utime/stime of /proc/PID/stat, which a 0.1 ms burst per ping mostly misses or overcounts).
ticks() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%d\n", s / 1000 }'; }
ctxsw() {
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}

start() {  # NS IFACE VALUE -> DPID
  WG_PROCESS_FOREGROUND=1 LOG_LEVEL=${LOG_LEVEL:-error} WGTUN_BUSY_POLL_US=$3 \
    ip netns exec "$1" "$WGTUN" -f "$2" >"$W/$2.log" 2>&1 &
  DPID=$!; PIDS+=("$DPID")
  for _ in $(seq 1 500); do
    [ -S "/var/run/wireguard/$2.sock" ] && return 0
    kill -0 "$DPID" 2>/dev/null || { cat "$W/$2.log" >&2; die "daemon for $2 exited"; }
    sleep 0.01
  done
  die "no UAPI socket for $2"
}
stop() {
  kill -TERM "$1" 2>/dev/null || return 0
  for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
up_pair() {  # VALUE -> PA PB
  start "$NS_A" "$IA" "$1"; PA=$DPID
  start "$NS_B" "$IB" "$1"; PB=$DPID
  # IPv6 off: no kernel router solicitations / MLD reports in the idle window.
  nsa sysctl -qw "net.ipv6.conf.$IA.disable_ipv6=1"; nsb sysctl -qw "net.ipv6.conf.$IB.disable_ipv6=1"
  nsa ip link set "$IA" mtu 1420 up; nsb ip link set "$IB" mtu 1420 up
  nsa ip addr add "$T_A/24" dev "$IA"; nsb ip addr add "$T_B/24" dev "$IB"
  nsb wg set "$IB" private-key "$W/key_b" listen-port "$PORT_B" peer "$PUB_A" allowed-ips "$T_A/32"
  nsa wg set "$IA" private-key "$W/key_a" listen-port "$PORT_A" \
    peer "$PUB_B" endpoint "$U_B:$PORT_B" allowed-ips "$T_B/32"
  nsa ping -q -c 1 -w 5 "$T_B" >/dev/null || die "no reply through the tunnel"
  nsa ping -q -c 20 -i 0.01 "$T_B" >/dev/null || true   # warm-up
}
# ping_stats FILE -> "min median" (ms) from the per-reply times
ping_stats() {
  grep -o 'time=[0-9.]*' "$1" | cut -d= -f2 | sort -n |
    awk '{ a[NR] = $1 } END { if (NR) printf "%.3f %.3f %d\n", a[1], a[int((NR + 1) / 2)], NR; else print "nan nan 0" }'
}

if [ -n "$EXEC" ]; then
  for v in "${VALS[@]}"; do
    up_pair "$v"
    echo "latency: busy_poll_us=$v PA=$PA PB=$PB: $EXEC"
    LOG_A=$W/$IA.log LOG_B=$W/$IB.log NS_A=$NS_A NS_B=$NS_B PA=$PA PB=$PB T_B=$T_B bash -c "$EXEC" || true
    stop "$PA"; stop "$PB"
  done
  exit 0
fi

RES="$W/results"; : >"$RES"
printf '%-5s %-6s %9s %9s %5s %12s %8s %8s %9s\n' round value rtt_min rtt_med n cpu_ms/ping idle_cs tcp_gbit cpu_s/GB
for rd in $(seq 1 "$ROUNDS"); do
  order=("${VALS[@]}")
  if [ $((rd % 2)) = 0 ]; then
    order=(); for ((i = ${#VALS[@]} - 1; i >= 0; i--)); do order+=("${VALS[i]}"); done
  fi
  nsa ping -c "$PINGS" -i 0.01 -W 1 "$U_B" >"$W/raw.txt" 2>&1 || true
  read -r mn md n < <(ping_stats "$W/raw.txt")
  printf '%-5s %-6s %9s %9s %5s\n' "$rd" raw "$mn" "$md" "$n"
  echo "raw $mn $md" >>"$RES"
  for v in "${order[@]}"; do
    up_pair "$v"
    c0=$(( $(ticks "$PA") + $(ticks "$PB") ))
    nsa ping -c "$PINGS" -i 0.01 -W 1 "$T_B" >"$W/p.txt" 2>&1 || true
    c1=$(( $(ticks "$PA") + $(ticks "$PB") ))
    read -r mn md n < <(ping_stats "$W/p.txt")
    cpp=$(awk -v d=$((c1 - c0)) -v n="$PINGS" 'BEGIN { printf "%.3f", d / n / 1000 }')
    sleep 1   # the busy-poll window and the last reply are over long before
    s0=$(( $(ctxsw "$PA") + $(ctxsw "$PB") )); sleep "$IDLE"; s1=$(( $(ctxsw "$PA") + $(ctxsw "$PB") ))
    gb=- cpg=-
    if [ "$TCP" != 0 ]; then
      nsb iperf3 -s -1 -B "$T_B" >/dev/null 2>&1 & spid=$!; PIDS+=("$spid")
      for _ in $(seq 1 100); do nsb ss -Htln "sport = :5201" | grep -q . && break; sleep 0.02; done
      c0=$(( $(ticks "$PA") + $(ticks "$PB") ))
      timeout $((TCP + 30)) ip netns exec "$NS_A" iperf3 -c "$T_B" -t "$TCP" -J >"$W/tcp.json" 2>&1 || true
      c1=$(( $(ticks "$PA") + $(ticks "$PB") ))
      kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
      read -r gb cpg < <(python3 - "$W/tcp.json" $((c1 - c0)) <<'EOF'
import json, sys
try:
    e = json.load(open(sys.argv[1]))["end"]["sum_received"]
    gbit = e["bits_per_second"] / 1e9
    gbytes = e["bytes"] / 1e9
    print("%.2f %.2f" % (gbit, int(sys.argv[2]) / 1e6 / gbytes))
except Exception:
    print("- -")
EOF
)
    fi
    printf '%-5s %-6s %9s %9s %5s %12s %8s %8s %9s\n' "$rd" "$v" "$mn" "$md" "$n" "$cpp" $((s1 - s0)) "$gb" "$cpg"
    echo "$v $mn $md $cpp $((s1 - s0)) $gb $cpg" >>"$RES"
    stop "$PA"; stop "$PB"
  done
done
echo
echo "medians over $ROUNDS rounds (spread min..max):"
python3 - "$RES" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[0], []).append(f[1:])
def col(rs, i):
    v = [float(r[i]) for r in rs if i < len(r) and r[i] not in ("-", "nan")]
    return "%.3f (%.3f..%.3f)" % (statistics.median(v), min(v), max(v)) if v else "-"
print("%-6s %-24s %-24s %-22s %-14s %-20s %s" % ("value", "rtt_min ms", "rtt_median ms",
      "cpu ms/ping", "idle ctxsw", "tcp Gbit/s", "cpu s/GB"))
for k in rows:
    rs = rows[k]
    print("%-6s %-24s %-24s %-22s %-14s %-20s %s" % (k, col(rs, 0), col(rs, 1), col(rs, 2),
          col(rs, 3), col(rs, 4), col(rs, 5)))
EOF
