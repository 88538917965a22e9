#!/usr/bin/env bash
# Load-independent counts for the UDP small-packet path: one wgtun pair (or wireguard-go, or
# raw veth) in two namespaces, UDP 64-byte datagrams at fixed rates, and per rate the system
# calls of each daemon by kind (perf tracepoints), its context switches and loop rounds, and
# where every lost datagram went (A's TUN queue, B's daemon socket, B's iperf3 socket, B's TUN).
#
#     sudo bash bench/udpcount.sh [--impl wgtun|wggo|raw] [--rates 50000,100000,150000]
#                                 [--secs 5] [--senders 2] [--wgtun PATH] [--prefix P] [--pin]
#                                 [--record DIR] [--wrap 'CMD ARGS'] [--txqlen N,M]
#
# Per rate it prints one block: offered/delivered packets/s and loss (iperf3 receivers),
# the drop counters, and per daemon (A = sender side: TUN read -> encrypt -> UDP send;
# B = receiver side: UDP receive -> decrypt -> TUN write) the calls per delivered packet.
# --record DIR: also `perf record -g` each daemon during each rate (DIR/perf-RATE-{a,b}.data)
# and print its top symbols (instead of the system-call counts, which need the same slots).
# --wrap 'CMD ARGS': run each daemon under CMD (word-split; %s becomes a or b), e.g.
#   --wrap 'valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%s' at a low rate, for
#   instructions per packet (callgrind_annotate --inclusive=yes; see bench/README.md).
# --txqlen N,M: every rate once per value, alternating, with A's TUN txqueuelen set to it
#   (`ip link set txqueuelen`; the kernel's TUN default is 500, wgtun's own default is shown
#   as "as set" when the option is absent)
# --pin: daemon A and the iperf3 senders on CPU 0, daemon B and the receivers on CPU 1.
# Needs root, iproute2, iperf3, wg, perf (tracepoints), python3. Cleans up on any exit.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMPL=wgtun RATES=50000,100000,150000 SECS=5 SENDERS=2 WGTUN="$SRC/build-release/wgtun" NP="" PIN=0 REC="" WRAP="" TXQ=""
while [ $# -gt 0 ]; do
  case "$1" in
    --impl) IMPL=${2:?}; shift 2 ;;
    --rates) RATES=${2:?}; shift 2 ;;
    --secs) SECS=${2:?}; shift 2 ;;
    --senders) SENDERS=${2:?}; shift 2 ;;
    --wgtun) WGTUN=${2:?}; shift 2 ;;
    --prefix) NP=${2?}; shift 2 ;;
    --pin) PIN=1; shift ;;
    --record) REC=${2:?}; shift 2 ;;
    --wrap) WRAP=${2:?}; shift 2 ;;
    --txqlen) TXQ=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "udpcount: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ $NP =~ ^[a-z0-9]{0,3}$ ]] || { echo "udpcount: --prefix: up to 3 of a-z0-9" >&2; exit 2; }
case "$IMPL" in wgtun|wggo|raw) ;; *) echo "udpcount: --impl wgtun|wggo|raw" >&2; exit 2 ;; esac
[ "$(id -u)" -eq 0 ] || { echo "udpcount: must run as root" >&2; exit 2; }

ID=$$
NS_A="${NP}uc$ID-a" NS_B="${NP}uc$ID-b" VETH_A="${NP}vu${ID}a" VETH_B="${NP}vu${ID}b"
IA="${NP}uc${ID}a" IB="${NP}uc${ID}b"
U_A=192.168.242.1 U_B=192.168.242.2 T_A=10.242.0.1 T_B=10.242.0.2 PORT_B=51821
W=$(mktemp -d /tmp/udpcount.XXXXXX)
PIDS=()
cleanup() {
  local rc=$? p
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  ip netns del "$NS_A" 2>/dev/null; ip netns del "$NS_B" 2>/dev/null
  rm -f "/var/run/wireguard/$IA.sock" "/var/run/wireguard/$IB.sock"
  rm -rf "$W"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
nsa() { ip netns exec "$NS_A" "$@"; }
nsb() { ip netns exec "$NS_B" "$@"; }
# on CPU N with --pin, as is without
# (always run in the background: exec keeps $! the process itself, for signals)
cpu() { local c=$1; shift; if [ "$PIN" = 1 ]; then exec taskset -c "$c" "$@"; else exec "$@"; fi; }

ip netns add "$NS_A"; ip netns add "$NS_B"
ip link add "$VETH_A" mtu 1500 netns "$NS_A" type veth peer name "$VETH_B" mtu 1500 netns "$NS_B"
nsa ip link set lo up; nsb ip link set lo up
nsa ip addr add "$U_A/24" dev "$VETH_A"; nsb ip addr add "$U_B/24" dev "$VETH_B"
nsa ip link set "$VETH_A" up; nsb ip link set "$VETH_B" up

PA="" PB="" DST=$U_B
if [ "$IMPL" != raw ]; then
  BIN=$WGTUN; [ "$IMPL" = wggo ] && BIN=wireguard-go
  (umask 077; wg genkey >"$W/ka"; wg genkey >"$W/kb")
  # LOG_LEVEL=verbose: SIGUSR1 makes wgtun log its counters (loop_wakeups) at info level
  read -r -a WA <<<"${WRAP//%s/a}"; read -r -a WB <<<"${WRAP//%s/b}"
  cpu 0 env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=verbose ip netns exec "$NS_A" "${WA[@]}" "$BIN" -f "$IA" >"$W/a.log" 2>&1 &
  PA=$!; PIDS+=("$PA")
  cpu 1 env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=verbose ip netns exec "$NS_B" "${WB[@]}" "$BIN" -f "$IB" >"$W/b.log" 2>&1 &
  PB=$!; PIDS+=("$PB")
  for _ in $(seq 1 3000); do
    [ -S "/var/run/wireguard/$IA.sock" ] && [ -S "/var/run/wireguard/$IB.sock" ] && break; sleep 0.01
  done
  nsa ip link set "$IA" mtu 1420 up; nsb ip link set "$IB" mtu 1420 up
  nsa ip addr add "$T_A/24" dev "$IA"; nsb ip addr add "$T_B/24" dev "$IB"
  nsa sysctl -qw "net.ipv6.conf.$IA.disable_ipv6=1"; nsb sysctl -qw "net.ipv6.conf.$IB.disable_ipv6=1"
  nsb wg set "$IB" private-key "$W/kb" listen-port "$PORT_B" peer "$(wg pubkey <"$W/ka")" allowed-ips "$T_A/32"
  nsa wg set "$IA" private-key "$W/ka" peer "$(wg pubkey <"$W/kb")" endpoint "$U_B:$PORT_B" allowed-ips "$T_B/32"
  nsa ping -c 2 -i 0.2 -W 2 "$T_B" >/dev/null || { echo "udpcount: no tunnel" >&2; exit 1; }
  DST=$T_B
fi

EV=context-switches
for s in read write writev readv recvmmsg sendmmsg recvmsg sendmsg recvfrom sendto epoll_wait epoll_pwait futex poll ppoll; do
  EV+=",syscalls:sys_enter_$s"
done
stats_wakeups() {  # PID LOG: loop_wakeups from wgtun's SIGUSR1 stats line (0 for others)
  [ "$IMPL" = wgtun ] || { echo 0; return; }
  local n; n=$(grep -c 'stats:' "$2" || true)
  kill -USR1 "$1"
  for _ in $(seq 1 100); do [ "$(grep -c 'stats:' "$2" || true)" -gt "$n" ] && break; sleep 0.02; done
  grep 'stats:' "$2" | tail -1 | tr ' ' '\n' | awk -F= '$1 == "loop_wakeups" { print $2 }'
}
oncpu() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f", s }'; }  # ns on CPU, all threads
snmp() { "$@" awk '/^Udp:/ { n++; if (n == 2) print $3, $4, $6 }' /proc/net/snmp; }  # InDatagrams InErrors RcvbufErrors
tunstat() { "$1" cat "/sys/class/net/$2/statistics/$3" 2>/dev/null || echo 0; }
dsock() { nsb awk -v p=":$(printf '%04X' "$PORT_B")" '$2 ~ p"$" { d += $NF } END { print d + 0 }' /proc/net/udp; }

IFS=, read -r -a RL0 <<<"$RATES"
IFS=, read -r -a QL <<<"${TXQ:-0}"
RL=() QS=()
for rate in "${RL0[@]}"; do for q in "${QL[@]}"; do RL+=("$rate"); QS+=("$q"); done; done
for ri in "${!RL[@]}"; do
  rate=${RL[ri]} q=${QS[ri]}
  [ "$q" != 0 ] && [ -n "$PA" ] && nsa ip link set "$IA" txqueuelen "$q"
  bits=$(( rate * 64 * 8 / SENDERS ))
  spids=() cpids=() files=()
  for k in $(seq 1 "$SENDERS"); do
    cpu 1 ip netns exec "$NS_B" iperf3 -s -1 -B "$DST" -p $((5310 + k)) >/dev/null 2>&1 & spids+=($!); PIDS+=($!)
  done
  sleep 0.3
  read -r b_in0 b_err0 b_rcv0 < <(snmp nsb)
  ta0=0 tb0=0 ds0=0 wa0=0 wb0=0
  if [ -n "$PA" ]; then
    ta0=$(tunstat nsa "$IA" tx_dropped); tb0=$(tunstat nsb "$IB" rx_packets); ds0=$(dsock)
    wa0=$(stats_wakeups "$PA" "$W/a.log"); wb0=$(stats_wakeups "$PB" "$W/b.log")
    if [ -n "$REC" ]; then
      mkdir -p "$REC"
      perf record -q -g -e cpu-clock -p "$PA" -o "$REC/perf-$rate-a.data" -- sleep $((SECS + 1)) >/dev/null 2>&1 & pfa=$!
      perf record -q -g -e cpu-clock -p "$PB" -o "$REC/perf-$rate-b.data" -- sleep $((SECS + 1)) >/dev/null 2>&1 & pfb=$!
    else
      perf stat -x, -e "$EV" -p "$PA" -o "$W/perf_a.csv" -- sleep $((SECS + 1)) >/dev/null 2>&1 & pfa=$!
      perf stat -x, -e "$EV" -p "$PB" -o "$W/perf_b.csv" -- sleep $((SECS + 1)) >/dev/null 2>&1 & pfb=$!
    fi
    c0a=$(oncpu "$PA"); c0b=$(oncpu "$PB")
    PIDS+=("$pfa" "$pfb")
    sleep 0.3
  fi
  for k in $(seq 1 "$SENDERS"); do
    files+=("$W/c$k.json")
    cpu 0 ip netns exec "$NS_A" iperf3 -c "$DST" -p $((5310 + k)) -u -l 64 -w 2M -b "$bits" -t "$SECS" -J \
      >"$W/c$k.json" 2>&1 & cpids+=($!); PIDS+=($!)
  done
  for k in "${cpids[@]}"; do wait "$k" || true; done
  for k in "${spids[@]}"; do kill "$k" 2>/dev/null || true; wait "$k" 2>/dev/null || true; done
  read -r b_in1 b_err1 b_rcv1 < <(snmp nsb)
  echo "== $IMPL rate $rate pps, $SECS s, $SENDERS senders$( [ "$PIN" = 1 ] && echo ', pinned')$( [ -n "$PA" ] && echo ", A TUN txqueuelen $(nsa cat "/sys/class/net/$IA/tx_queue_len")")"
  python3 "$SRC/bench/udpsum.py" "$rate" "${files[@]}" | awk '{ printf "offered %d/s delivered %d/s loss %s%% ok %s\n", $1, $2, $3, $4 }'
  dl=$(python3 -c 'import json,sys
t=0
for f in sys.argv[1:]:
    try: s=json.load(open(f))["end"]["sum_received"]; t+=s["packets"]-s["lost_packets"]
    except Exception: pass
print(t)' "${files[@]}")
  echo "B UDP: InErrors $((b_err1 - b_err0)) RcvbufErrors $((b_rcv1 - b_rcv0)) (all B sockets)"
  if [ -n "$PA" ]; then
    wait "$pfa" "$pfb" 2>/dev/null || true
    wa1=$(stats_wakeups "$PA" "$W/a.log"); wb1=$(stats_wakeups "$PB" "$W/b.log")
    echo "A TUN tx_dropped $(( $(tunstat nsa "$IA" tx_dropped) - ta0 ))  B daemon socket drops $(( $(dsock) - ds0 ))  B TUN packets written $(( $(tunstat nsb "$IB" rx_packets) - tb0 ))"
    c1a=$(oncpu "$PA"); c1b=$(oncpu "$PB")
    echo "delivered datagrams $dl; per delivered packet:"
    echo "  on-CPU ns, all threads: A $(( (c1a - c0a) / (dl > 0 ? dl : 1) )) B $(( (c1b - c0b) / (dl > 0 ? dl : 1) ))"
    if [ -n "$REC" ]; then
      for side in a b; do
        echo "  ${side^^} top symbols:"
        perf report -i "$REC/perf-$rate-$side.data" --no-children --sort sym --percent-limit 1.5 --stdio 2>/dev/null |
          grep -E '^ +[0-9]' | head -25
      done
      continue
    fi
    for side in a b; do
      w0=wa0 w1=wa1; [ $side = b ] && w0=wb0 w1=wb1
      awk -F, -v d="$dl" -v s="$side" -v lw=$(( ${!w1} - ${!w0} )) '
        $3 ~ /^(syscalls:sys_enter_|context-switches)/ && $1 ~ /^[0-9]+$/ && $1 > 0 {
          n = $3; sub("syscalls:sys_enter_", "", n); line = line sprintf(" %s %.3f", n, $1 / d) }
        END { printf "  %s:%s loop_rounds %.3f\n", toupper(s), line, lw / d }' "$W/perf_$side.csv"
    done
  fi
done
