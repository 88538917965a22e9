#!/usr/bin/env bash
# Side-by-side benchmark: raw veth (ceiling), wireguard-go <-> wireguard-go, wgtun <-> wgtun.
#
# Usage (as root, from anywhere in a clone):
#     sudo bash bench/run.sh                  # full run: 3 alternating rounds, 10 s per iperf3 test
#     sudo bash bench/run.sh --smoke          # CI smoke: 1 round, tiny durations
# Missing tools are installed first through scripts/deps.sh (as scripts/demo.sh does).
#
# Options:
#     --rounds N        rounds (default 3); each round runs every selected impl once, the
#                       tunnel impls in alternating order (odd rounds as listed, even rounds
#                       reversed; raw always first)
#     --duration S      seconds per iperf3 test (default 10)
#     --impls LIST      comma list of raw, wggo, wgtun, wgtun-static and wgtun-wN (default
#                       raw,wggo,wgtun); wgtun-static is wgtun built with
#                       -DWGTUN_STATIC_CRYPTO=ON in <build>-static (libcrypto.a linked in: the
#                       figure of an app that ships its crypto inside its own library;
#                       docs/memory.md); both daemons map the same binary, so compare PSS;
#                       wgtun-wN is wgtun with WGTUN_CRYPTO_WORKERS=N (N = 1..64), its own
#                       column: e.g. raw,wggo,wgtun,wgtun-w1 compares the default pool with one
#                       thread per device in the same alternating run
#     --settle S        idle seconds after the handshake before idle RSS is read and the idle
#                       windows start (default 12: the protocol's passive keepalive fires 10 s
#                       after the last data received, so it lands before the windows)
#     --idle S          "as is" idle window for wakeups/s, no keepalive configured (default 20)
#     --quiet S         second idle window with IPv6 disabled on both tunnel interfaces (no
#                       kernel router solicitations/MLD reports for the daemons to read;
#                       default 30)
#     --udp-senders N   parallel iperf3 sender processes in the UDP rate search (default 2)
#     --udp-step S      seconds per step of the UDP rate search (default 3)
#     --pings N         ping samples for RTT (default 100, 10 ms apart)
#     --build DIR       cmake Release build dir (default <repo>/build-release)
#     --no-build        don't run cmake; use the wgtun already in the build dir
#     --wgtun PATH      wgtun daemon binary (default <build>/wgtun)
#     --out DIR         results dir (default <repo>/bench/results): writes <date>.json + .svg
#     --keep            keep the scratch dir (raw iperf3/ping outputs) and print its path
#     --prefix P        put P (up to 3 characters a-z0-9) in front of every namespace, veth and
#                       interface name (default none), e.g. to tell parallel runs apart
#     --base DIR        a second wgtun build to compare against in the same alternating run:
#                       DIR is its build dir (holding wgtun) or the binary itself; enables the
#                       impl wgtun-base (e.g. --impls wgtun-base,wgtun --base ../main/build-release).
#                       The report adds the ratio of every other wgtun column over wgtun-base
#     --tcp-only        per round and impl only ping, TCP 1 stream (with CPU per GB) and TCP 4
#                       streams: no idle windows, no UDP tests, 1 s settle (A/B speed runs)
#     --pin             two machines on one: namespace A's daemon (all its threads) and its
#                       iperf3/ping ends on one CPU, B's daemon and its iperf3 servers on
#                       another (taskset; the first two CPUs this script may use), so the two
#                       tunnel ends do not compete for a core. The kernel still runs each
#                       packet's veth receive in the sender's softirq (on the sender's CPU)
#     --smoke           --rounds 1 --duration 1 --settle 1 --idle 1 --quiet 1 --pings 10
#                       --udp-step 1
#
# What it does: builds wgtun (cmake Release), makes two network namespaces joined by a veth pair
# (MTU 1500; tunnel MTU 1420), then per round and impl: starts both daemons (foreground, one per
# namespace), times `wg set` of the peer to the first ping reply, reads idle RSS (and its
# anon/file split, PSS and USS) after --settle s,
# counts context switches (and, with perf, system calls) over --idle s as is and over --quiet s
# with IPv6 off on the tunnel interfaces, pings (RTT), runs iperf3 TCP 1 stream (with daemon
# CPU from /proc/PID/stat), TCP 4 streams, UDP 64-byte datagrams flat out, then searches the
# highest UDP 64-byte rate with < 1 % loss (doubling, then bisecting, with --udp-senders
# parallel senders), reads peak RSS and RSS right after the traffic, waits --settle s more and
# reads RSS idle after the traffic, and stops the daemons. bench/report.py turns the raw outputs into the table (medians, wgtun/wireguard-go
# ratios), the JSON and the SVG chart. Method and caveats: bench/README.md.
# Requires: cmake + a C toolchain, iproute2, wireguard-go, wireguard-tools (wg), iperf3, ping,
# python3 (stdlib only); perf is optional (cross-check of the wakeup count).
# Everything stays inside the two namespaces; the trap removes them, the daemons and the
# iperf3 servers on any exit.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROUNDS=3 DURATION=10 IMPLS=raw,wggo,wgtun SETTLE=12 IDLE=20 QUIET=30 PINGS=100
UDP_SENDERS=2 UDP_STEP=3
BUILD="$SRC/build-release" DO_BUILD=1 WGTUN="" OUT="$SRC/bench/results" KEEP=0 SMOKE=0 NP="" PIN=0
BASE="" BASE_WGTUN="" TCP_ONLY=0

die() { echo "bench: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --impls) IMPLS=${2:?}; shift 2 ;;
    --settle) SETTLE=${2:?}; shift 2 ;;
    --idle) IDLE=${2:?}; shift 2 ;;
    --quiet) QUIET=${2:?}; shift 2 ;;
    --udp-senders) UDP_SENDERS=${2:?}; shift 2 ;;
    --udp-step) UDP_STEP=${2:?}; shift 2 ;;
    --pings) PINGS=${2:?}; shift 2 ;;
    --build) BUILD=${2:?}; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --wgtun) WGTUN=${2:?}; shift 2 ;;
    --out) OUT=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --prefix) NP=${2?}; shift 2 ;;
    --base) BASE=${2:?}; shift 2 ;;
    --tcp-only) TCP_ONLY=1; shift ;;
    --pin) PIN=1; shift ;;
    --smoke) SMOKE=1 ROUNDS=1 DURATION=1 SETTLE=1 IDLE=1 QUIET=1 PINGS=10 UDP_STEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
for v in ROUNDS DURATION SETTLE IDLE QUIET PINGS UDP_SENDERS UDP_STEP; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "--${v,,} needs a positive integer"
done
[[ $NP =~ ^[a-z0-9]{0,3}$ ]] || die "--prefix: up to 3 characters a-z 0-9"
IFS=, read -r -a IMPL_LIST <<<"$IMPLS"
TUNNEL_IMPLS=()  # the tunnel impls in the order given (raw runs first in every round)
for i in "${IMPL_LIST[@]}"; do
  case "$i" in
    raw|wggo|wgtun) ;;
    wgtun-base) [ -n "$BASE" ] || die "impl wgtun-base needs --base DIR" ;;
    wgtun-static) ;;
    wgtun-w[1-9]|wgtun-w[1-9][0-9]) [ "${i#wgtun-w}" -le 64 ] || die "impl '$i': N is 1..64" ;;
    *) die "unknown impl '$i' (raw, wggo, wgtun, wgtun-static, wgtun-wN, wgtun-base)" ;;
  esac
  [ "$i" = raw ] || TUNNEL_IMPLS+=("$i")
done
[ "$(printf '%s\n' "${IMPL_LIST[@]}" | sort | uniq -d)" = "" ] || die "--impls lists an impl twice"

# --pin: PIN_A / PIN_B prefix every command of namespace A / B (empty without --pin).
PIN_A=() PIN_B=() PIN_CPUS=""
if [ "$PIN" = 1 ]; then
  command -v taskset >/dev/null || die "--pin needs taskset (util-linux)"
  # the CPUs this script may run on, expanded from taskset's list form (0-1,4 -> 0 1 4)
  read -r -a cpus < <(taskset -pc $$ | sed 's/.*: //' | tr ',' '\n' |
    awk -F- '{ e = NF > 1 ? $2 : $1; for (c = $1; c <= e; c++) printf "%d ", c } END { print "" }')
  [ "${#cpus[@]}" -ge 2 ] || die "--pin needs at least 2 CPUs (have ${#cpus[@]})"
  PIN_A=(taskset -c "${cpus[0]}") PIN_B=(taskset -c "${cpus[1]}") PIN_CPUS="${cpus[0]},${cpus[1]}"
fi

has_impl() { [[ ",$IMPLS," == *",$1,"* ]]; }
has_wgtun() { [[ ",$IMPLS," == *",wgtun"[,-]* ]]; }   # wgtun or any wgtun-wN

[ "$(id -u)" -eq 0 ] || die "must run as root (network namespaces, TUN devices)"
need=(ip wg iperf3 ping python3 cmake)
has_impl wggo && need+=(wireguard-go)
# One command from a clean clone: install what is missing, as scripts/demo.sh does (deps.sh
# only runs apt when a package is missing, so this is quick on a prepared machine).
bash "$SRC/scripts/deps.sh" || die "scripts/deps.sh failed"
for t in "${need[@]}"; do
  command -v "$t" >/dev/null || die "$t missing after scripts/deps.sh"
done

# ---- build -----------------------------------------------------------------------------------
if has_wgtun; then
  if [ -z "$WGTUN" ]; then
    WGTUN="$BUILD/wgtun"
    if [ "$DO_BUILD" = 1 ]; then
      [ -f "$SRC/cli/wgtun.c" ] || die "no cli/wgtun.c in this tree yet: use --impls raw,wggo"
      echo "bench: building wgtun (cmake Release in $BUILD)"
      cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
      cmake --build "$BUILD" -j2 --target wgtun >/dev/null
    fi
  fi
  [ -x "$WGTUN" ] || die "wgtun binary $WGTUN not found"
fi
if [ -n "$BASE" ]; then
  if [ -d "$BASE" ]; then BASE_WGTUN=$BASE/wgtun; else BASE_WGTUN=$BASE; fi
  BASE_WGTUN=$(realpath "$BASE_WGTUN" 2>/dev/null) || die "--base: no wgtun at $BASE"
  [ -x "$BASE_WGTUN" ] || die "--base: $BASE_WGTUN is not executable"
  has_impl wgtun-base || echo "bench: --base given but wgtun-base not in --impls: it is not run" >&2
fi
WGTUN_STATIC="$BUILD-static/wgtun"
if has_impl wgtun-static; then
  if [ "$DO_BUILD" = 1 ]; then
    echo "bench: building wgtun with static libcrypto (cmake Release in $BUILD-static)"
    cmake -S "$SRC" -B "$BUILD-static" -DCMAKE_BUILD_TYPE=Release -DWGTUN_STATIC_CRYPTO=ON >/dev/null
    cmake --build "$BUILD-static" -j2 --target wgtun >/dev/null
  fi
  [ -x "$WGTUN_STATIC" ] || die "wgtun-static binary $WGTUN_STATIC not found"
fi

# ---- names (unique per run: several runs or tests may share the machine) ---------------------
ID=$$
NS_A="${NP}wgb$ID-a" NS_B="${NP}wgb$ID-b" VETH_A="${NP}vb${ID}a" VETH_B="${NP}vb${ID}b"
U_A=192.168.241.1 U_B=192.168.241.2          # underlay (veth)
T_A=10.241.0.1 T_B=10.241.0.2                # tunnel inner addresses
PORT_A=51820 PORT_B=51821
W=$(mktemp -d /tmp/wgbench.XXXXXX)
PIDS=()          # every background process this script started (daemons, iperf3 servers, perf)
IFACES=()        # UAPI socket names this script may leave behind

cleanup() {
  local rc=$? p
  set +e
  for p in "${PIDS[@]}"; do
    kill -0 "$p" 2>/dev/null && kill -TERM "$p" 2>/dev/null
  done
  for p in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  for p in "${IFACES[@]}"; do rm -f "/var/run/wireguard/$p.sock"; done
  if [ "$KEEP" = 1 ]; then echo "bench: scratch outputs kept in $W"; else rm -rf "$W"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

nsa() { ip netns exec "$NS_A" "$@"; }
nsb() { ip netns exec "$NS_B" "$@"; }
# the same, on the namespace's CPU with --pin (traffic ends and daemons)
pina() { "${PIN_A[@]}" ip netns exec "$NS_A" "$@"; }
pinb() { "${PIN_B[@]}" ip netns exec "$NS_B" "$@"; }

ip netns add "$NS_A"
ip netns add "$NS_B"
ip link add "$VETH_A" mtu 1500 netns "$NS_A" type veth peer name "$VETH_B" mtu 1500 netns "$NS_B"
nsa ip link set lo up; nsb ip link set lo up
nsa ip addr add "$U_A/24" dev "$VETH_A"; nsb ip addr add "$U_B/24" dev "$VETH_B"
nsa ip link set "$VETH_A" up; nsb ip link set "$VETH_B" up

(umask 077; wg genkey >"$W/key_a"; wg genkey >"$W/key_b")
PUB_A=$(wg pubkey <"$W/key_a"); PUB_B=$(wg pubkey <"$W/key_b")
CLK_TCK=$(getconf CLK_TCK)

# ---- /proc readers ---------------------------------------------------------------------------
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }     # utime+stime, all threads
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
# mem_kv PID SIDE PREFIX: VmRSS and its split (RssAnon/RssFile/RssShmem from status), PSS and
# USS (Private_Clean + Private_Dirty, from smaps_rollup) as PREFIX_{rss,anon,file,shmem,pss,
# uss}_SIDE_kb lines for kv.
mem_kv() {
  local pid=$1 side=$2 pre=$3
  awk -v s="$side" -v p="$pre" '
    $1 == "VmRSS:" { printf "%s_rss_%s_kb=%s\n", p, s, $2 }
    $1 == "RssAnon:" { printf "%s_anon_%s_kb=%s\n", p, s, $2 }
    $1 == "RssFile:" { printf "%s_file_%s_kb=%s\n", p, s, $2 }
    $1 == "RssShmem:" { printf "%s_shmem_%s_kb=%s\n", p, s, $2 }' "/proc/$pid/status"
  awk -v s="$side" -v p="$pre" '
    $1 == "Pss:" { printf "%s_pss_%s_kb=%s\n", p, s, $2 }
    $1 == "Private_Clean:" || $1 == "Private_Dirty:" { u += $2 }
    END { if (NR) printf "%s_uss_%s_kb=%d\n", p, s, u }' "/proc/$pid/smaps_rollup" 2>/dev/null
}
ctxsw() {  # voluntary + nonvoluntary context switches summed over the live threads
  cat /proc/"$1"/task/*/status 2>/dev/null |
    awk '/^(voluntary|nonvoluntary)_ctxt_switches:/ { s += $2 } END { print s + 0 }'
}
nthreads() { ls "/proc/$1/task" | wc -l; }
udp_snmp() { "$@" awk '/^Udp:/ { n++; if (n == 2) print $4, $6 }' /proc/net/snmp; }  # InErrors RcvbufErrors
busy_jiffies() { awk '/^cpu / { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8+$9 }' /proc/stat; }
now_ns() { date +%s%N; }

# ---- daemons ---------------------------------------------------------------------------------
# start_daemon IMPL NS IFACE -> DPID (the daemon itself: `ip netns exec` execs it, no fork).
# wgtun-wN: wgtun with WGTUN_CRYPTO_WORKERS=N; plain wgtun runs with the variable unset (its
# default), whatever the caller's environment holds.
start_daemon() {
  local impl=$1 ns=$2 ifc=$3 bin=wireguard-go env=(env -u WGTUN_CRYPTO_WORKERS) pin=()
  [ "$ns" = "$NS_A" ] && pin=("${PIN_A[@]}")
  [ "$ns" = "$NS_B" ] && pin=("${PIN_B[@]}")
  case "$impl" in
    wgtun) bin=$WGTUN ;;
    wgtun-base) bin=$BASE_WGTUN ;;
    wgtun-static) bin=$WGTUN_STATIC ;;
    wgtun-w*) bin=$WGTUN env+=("WGTUN_CRYPTO_WORKERS=${impl#wgtun-w}") ;;
  esac
  "${env[@]}" WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error \
    "${pin[@]}" ip netns exec "$ns" "$bin" -f "$ifc" >"$W/$ifc.log" 2>&1 &
  DPID=$!; PIDS+=("$DPID")
}
wait_socket() {  # PID IFACE: the UAPI socket appears when the daemon is ready for `wg`
  local i
  for i in $(seq 1 500); do
    [ -S "/var/run/wireguard/$2.sock" ] && return 0
    kill -0 "$1" 2>/dev/null || { echo "bench: daemon for $2 exited:" >&2; cat "$W/$2.log" >&2; return 1; }
    sleep 0.01
  done
  echo "bench: no UAPI socket for $2 after 5 s" >&2; return 1
}
stop_daemon() {
  local p=$1 i
  kill -TERM "$p" 2>/dev/null || return 0
  for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && { echo "bench: daemon $p ignored SIGTERM, killing" >&2; kill -KILL "$p"; }
  wait "$p" 2>/dev/null || true
}

# ---- idle windows ----------------------------------------------------------------------------
# idle_window NAME SECONDS A B: context switches of every thread of both daemons over the window
# (kv ctx_NAME_{a,b}_{0,1}, NAME_window_s) and, with perf, context switches and system-call
# entries of both daemons over the same window (perf_NAME.csv).
HAVE_PERF_SYSCALLS=0
if command -v perf >/dev/null && perf stat -x, -e raw_syscalls:sys_enter -- true >/dev/null 2>&1; then
  HAVE_PERF_SYSCALLS=1
fi
idle_window() {
  local name=$1 secs=$2 pa=$3 pb=$4 perf_pid="" ev=context-switches c0
  [ "$HAVE_PERF_SYSCALLS" = 1 ] && ev=context-switches,raw_syscalls:sys_enter
  if command -v perf >/dev/null; then
    perf stat -x, -e "$ev" -p "$pa,$pb" -o "$dir/perf_$name.csv" -- sleep "$secs" \
      >/dev/null 2>&1 & perf_pid=$!; PIDS+=("$perf_pid")
  fi
  c0=$(now_ns)
  echo "ctx_${name}_a_0=$(ctxsw "$pa")" >>"$kv"; echo "ctx_${name}_b_0=$(ctxsw "$pb")" >>"$kv"
  sleep "$secs"
  echo "ctx_${name}_a_1=$(ctxsw "$pa")" >>"$kv"; echo "ctx_${name}_b_1=$(ctxsw "$pb")" >>"$kv"
  echo "${name}_window_s=$(( ($(now_ns) - c0) / 1000 ))e-6" >>"$kv"
  [ -n "$perf_pid" ] && { wait "$perf_pid" 2>/dev/null || true; }
}

# ---- traffic ---------------------------------------------------------------------------------
# iperf DST OUTFILE ARGS...: one-shot server in B bound to DST, client in A, JSON to OUTFILE.
iperf() {
  local dst=$1 out=$2 spid i; shift 2
  pinb iperf3 -s -1 -B "$dst" >/dev/null 2>&1 & spid=$!; PIDS+=("$spid")
  for i in $(seq 1 100); do
    nsb ss -Htln "sport = :5201" | grep -q . && break; sleep 0.02
  done
  timeout $((DURATION + 30)) "${PIN_A[@]}" ip netns exec "$NS_A" iperf3 -c "$dst" -t "$DURATION" -J "$@" \
    >"$out" 2>&1 || echo "bench: iperf3 $* to $dst failed (see report)" >&2
  kill "$spid" 2>/dev/null || true; wait "$spid" 2>/dev/null || true
}

# Where datagrams were dropped (for the UDP search): "A-TUN-queue B-UDP-RcvbufErrors
# B-daemon-socket": A's TUN tx_dropped (the kernel found the daemon's TUN queue full), B's
# UDP RcvbufErrors (any socket in B: the daemon's or iperf3's), and the drops of the daemon's
# own socket in B (/proc/net/udp). Raw veth has only the middle one.
drop_counters() {
  local tun=0 rcv daemon=0 hexport
  rcv=$(udp_snmp nsb | awk '{ print $2 }')
  if [ -n "${ia:-}" ]; then
    tun=$(nsa cat "/sys/class/net/$ia/statistics/tx_dropped" 2>/dev/null || echo 0)
    hexport=$(printf '%04X' "$PORT_B")
    daemon=$(nsb awk -v p=":$hexport" '$2 ~ p"$" { d += $NF } END { print d + 0 }' /proc/net/udp /proc/net/udp6)
  fi
  echo "$tun $rcv $daemon"
}

# udp_step DST PPS PREFIX: UDP_SENDERS iperf3 senders in A (one process each, so each can have
# a core: iperf3 3.12 runs all streams of one process on one thread), each offering
# PPS/UDP_SENDERS 64-byte datagrams per second for UDP_STEP s to its own one-shot server in B.
# -w 2M gives both iperf3 ends 4 MB socket buffers (up to net.core.rmem_max): with the
# default ~200 KB the receiving iperf3 overflows whenever the shared machine deschedules it
# for ~10 ms, which measured the machine's scheduling, not the path (raw veth failed at 25k).
# Prints udpsum.py's "sent_pps delivered_pps loss_pct ok" and the drop_counters deltas.
udp_step() {
  local dst=$1 pps=$2 pre=$3 k port spids=() cpids=() bits i files=() d0 d1
  bits=$(( pps * 64 * 8 / UDP_SENDERS ))    # iperf3 -b counts payload bits
  for k in $(seq 1 "$UDP_SENDERS"); do
    port=$((5210 + k))
    pinb iperf3 -s -1 -B "$dst" -p "$port" >/dev/null 2>&1 & spids+=($!); PIDS+=($!)
  done
  for i in $(seq 1 100); do
    [ "$(nsb ss -Htln "sport >= :5211 and sport <= :$((5210 + UDP_SENDERS))" | wc -l)" -ge "$UDP_SENDERS" ] && break
    sleep 0.02
  done
  read -r -a d0 < <(drop_counters)
  for k in $(seq 1 "$UDP_SENDERS"); do
    port=$((5210 + k)); files+=("$pre-s$k.json")
    timeout $((UDP_STEP + 20)) "${PIN_A[@]}" ip netns exec "$NS_A" iperf3 -c "$dst" -p "$port" -u -l 64 \
      -w 2M -b "$bits" -t "$UDP_STEP" -J >"$pre-s$k.json" 2>&1 & cpids+=($!); PIDS+=($!)
  done
  for k in "${cpids[@]}"; do wait "$k" 2>/dev/null || true; done
  for k in "${spids[@]}"; do kill "$k" 2>/dev/null || true; wait "$k" 2>/dev/null || true; done
  read -r -a d1 < <(drop_counters)
  echo "$(python3 "$SRC/bench/udpsum.py" "$pps" "${files[@]}") $((d1[0] - d0[0])) $((d1[1] - d0[1])) $((d1[2] - d0[2]))"
}

# udp_search DST: the highest offered rate (packets/s, all senders together) with < 1 % loss:
# from 25k double until a step fails (loss >= 1 % or the senders could not offer 90 % of the
# rate), then bisect until the bracket is within 10 %, at most 8 steps. Writes each step to
# $dir/udpsearch.txt ("target sent delivered loss% ok tun_a_drops b_rcvbuf_errors
# b_daemon_socket_drops") and the best to kv (udp_ok_*).
udp_search() {
  local dst=$1 r=25000 good=0 bad=0 n=0 out sent dlv loss ok g_sent=0 g_dlv=0 g_loss=0 drops
  local last_fail=""
  : >"$dir/udpsearch.txt"
  while [ "$n" -lt 8 ]; do
    n=$((n + 1))
    out=$(udp_step "$dst" "$r" "$dir/udp-$n")
    read -r sent dlv loss ok drops <<<"$out"
    echo "$r $sent $dlv $loss $ok $drops" >>"$dir/udpsearch.txt"
    if [ "$ok" = 1 ]; then
      good=$r g_sent=$sent g_dlv=$dlv g_loss=$loss
      if [ "$bad" = 0 ]; then r=$((r * 2)); else r=$(( (good + bad) / 2 )); fi
    else
      bad=$r
      # why the step failed: the senders could not offer the rate, or the path lost >= 1 %
      last_fail=loss; awk -v s="$sent" -v t="$r" 'BEGIN { exit !(s < 0.9 * t) }' && last_fail=sender
      r=$(( (good + bad) / 2 ))
      [ "$good" = 0 ] && r=$((bad / 2))
      [ "$r" -lt 1000 ] && break
    fi
    [ "$bad" != 0 ] && [ $(( (bad - good) * 10 )) -le "$bad" ] && break
  done
  { echo "udp_ok_target_pps=$good"; echo "udp_ok_sent_pps=$g_sent"
    echo "udp_ok_delivered_pps=$g_dlv"; echo "udp_ok_loss_pct=$g_loss"
    echo "udp_fail_pps=$bad"; echo "udp_fail_reason=$last_fail"; } >>"$kv"
}

run_impl() {  # IMPL ROUND
  local impl=$1 rd=$2 dir="$W/r$2-$1" kv dst pa=0 pb=0 ia ib c0 c1 b0 b1
  mkdir -p "$dir"; kv="$dir/kv"
  echo "loadavg_start=$(cut -d' ' -f1 /proc/loadavg)" >>"$kv"
  if [ "$impl" = raw ]; then
    dst=$U_B
  else
    dst=$T_B
    local pre=go
    case "$impl" in wgtun) pre=wt ;; wgtun-base) pre=bs ;; wgtun-static) pre=ws ;; wgtun-w*) pre="w${impl#wgtun-w}-" ;; esac
    ia="$NP$pre${ID}a" ib="$NP$pre${ID}b"    # e.g. go1234a / wt1234b / w1-1234a (<= 15 chars)
    IFACES+=("$ia" "$ib")
    local t0; t0=$(now_ns)
    start_daemon "$impl" "$NS_A" "$ia"; pa=$DPID
    start_daemon "$impl" "$NS_B" "$ib"; pb=$DPID
    if ! { wait_socket "$pa" "$ia" && wait_socket "$pb" "$ib"; }; then
      stop_daemon "$pa"; stop_daemon "$pb"; return 1
    fi
    echo "start_ms=$(( ($(now_ns) - t0) / 1000000 ))" >>"$kv"
    nsa ip link set "$ia" mtu 1420 up; nsb ip link set "$ib" mtu 1420 up
    nsa ip addr add "$T_A/24" dev "$ia"; nsb ip addr add "$T_B/24" dev "$ib"
    nsb wg set "$ib" private-key "$W/key_b" listen-port "$PORT_B" peer "$PUB_A" allowed-ips "$T_A/32"
    nsa wg set "$ia" private-key "$W/key_a" listen-port "$PORT_A"
    # Time from the peer's `wg set` on A to the first echo reply through the tunnel.
    pina python3 "$SRC/bench/probe.py" "$T_B" --timeout 10 -- \
      wg set "$ia" peer "$PUB_B" endpoint "$U_B:$PORT_B" allowed-ips "$T_B/32" \
      >"$dir/firstreply.json" || echo "bench: $impl: no reply through the tunnel" >&2
    pina python3 "$SRC/bench/probe.py" "$T_B" --timeout 5 >"$dir/probefloor.json" || true
    if [ "$TCP_ONLY" = 1 ]; then sleep 1; else
    sleep "$SETTLE"     # past the passive keepalive (10 s after the last data received)
    mem_kv "$pa" a idle >>"$kv"; mem_kv "$pb" b idle >>"$kv"
    cat "/proc/$pa/smaps" >"$dir/smaps_idle_a.txt" 2>/dev/null || true  # per mapping (README)
    echo "threads_a=$(nthreads "$pa")" >>"$kv"; echo "threads_b=$(nthreads "$pb")" >>"$kv"
    # Idle wakeups "as is": whatever reaches the daemons, including the kernel's own IPv6
    # router solicitations and MLD reports sent out of the tunnel interface.
    idle_window asis "$IDLE" "$pa" "$pb"
    # Then the same with that kernel chatter silenced: IPv6 off on both tunnel interfaces
    # (the bench's traffic is IPv4). The MLD "done" messages of the switch-off land in the
    # 2 s before the window.
    nsa sysctl -qw "net.ipv6.conf.$ia.disable_ipv6=1"; nsb sysctl -qw "net.ipv6.conf.$ib.disable_ipv6=1"
    sleep 2
    idle_window quiet "$QUIET" "$pa" "$pb"
    fi
  fi

  pina ping -q -c "$PINGS" -i 0.01 -W 1 "$dst" >"$dir/ping.txt" 2>&1 || true

  # TCP 1 stream, with daemon CPU and whole-machine busy time around it.
  read -r b0 c0 < <(busy_jiffies)
  echo "udp_snmp_b_0=$(udp_snmp nsb | tr ' ' ,)" >>"$kv"
  if [ "$impl" != raw ]; then
    echo "cpu_a_0=$(cpu_ticks "$pa")" >>"$kv"; echo "cpu_b_0=$(cpu_ticks "$pb")" >>"$kv"
  fi
  iperf "$dst" "$dir/tcp1.json"
  if [ "$impl" != raw ]; then
    echo "cpu_a_1=$(cpu_ticks "$pa")" >>"$kv"; echo "cpu_b_1=$(cpu_ticks "$pb")" >>"$kv"
  fi
  echo "udp_snmp_b_1=$(udp_snmp nsb | tr ' ' ,)" >>"$kv"
  read -r b1 c1 < <(busy_jiffies)
  echo "tcp1_busy_jiffies=$((b1 - b0))" >>"$kv"; echo "tcp1_total_jiffies=$((c1 - c0))" >>"$kv"

  iperf "$dst" "$dir/tcp4.json" -P 4
  if [ "$TCP_ONLY" = 0 ]; then
    iperf "$dst" "$dir/udp64.json" -u -l 64 -b 10G
    udp_search "$dst"
  fi

  if [ "$impl" != raw ]; then
    echo "peak_rss_a_kb=$(status_kb "$pa" VmHWM)" >>"$kv"
    echo "peak_rss_b_kb=$(status_kb "$pb" VmHWM)" >>"$kv"
    mem_kv "$pa" a after >>"$kv"; mem_kv "$pb" b after >>"$kv"  # right after the traffic
    # Idle again: past the passive keepalive, whose wakeup is where wgtun gives its batch
    # buffers back (docs/memory.md); what stays resident after a burst.
    [ "$TCP_ONLY" = 1 ] || sleep "$SETTLE"
    mem_kv "$pa" a reidle >>"$kv"; mem_kv "$pb" b reidle >>"$kv"
    cat "/proc/$pa/smaps" >"$dir/smaps_reidle_a.txt" 2>/dev/null || true
    cat "/proc/$pb/smaps" >"$dir/smaps_reidle_b.txt" 2>/dev/null || true
    stop_daemon "$pa"; stop_daemon "$pb"
  fi
  echo "loadavg_end=$(cut -d' ' -f1 /proc/loadavg)" >>"$kv"
}

# ---- metadata and rounds ---------------------------------------------------------------------
stamp=$(date -u +%Y-%m-%dT%H%M%SZ)        # the results' file name: when the run started
[ "$SMOKE" = 1 ] && stamp="smoke-$stamp"
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host_kernel=$(uname -r)"
  echo "cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  echo "nproc=$(nproc)"
  echo "mem_kb=$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "rounds=$ROUNDS"; echo "duration_s=$DURATION"; echo "settle_s=$SETTLE"
  echo "idle_s=$IDLE"; echo "quiet_s=$QUIET"; echo "pings=$PINGS"; echo "impls=$IMPLS"
  echo "smoke=$SMOKE"; echo "udp_senders=$UDP_SENDERS"; echo "udp_step_s=$UDP_STEP"
  echo "clk_tck=$CLK_TCK"; echo "pin=$PIN"; echo "pin_cpus=$PIN_CPUS"
  echo "git_rev=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo unknown)$(
    git -C "$SRC" diff --quiet HEAD 2>/dev/null || echo -dirty)"
  echo "wireguard_go_version=$(wireguard-go --version 2>/dev/null | head -1 | awk '{ print $2 }')"
  echo "wg_tools_version=$(wg --version 2>/dev/null | awk '{ print $2 }')"
  echo "iperf3_version=$(iperf3 --version | head -1 | awk '{ print $2 }')"
  [ -n "$WGTUN" ] && echo "wgtun_binary=$WGTUN"
  [ -n "$BASE_WGTUN" ] && echo "wgtun_base_binary=$BASE_WGTUN"
  [ -n "$BASE_WGTUN" ] && echo "wgtun_base_sha256=$(sha256sum "$BASE_WGTUN" | cut -c1-16)"
  [ -n "$WGTUN" ] && echo "wgtun_sha256=$(sha256sum "$WGTUN" | cut -c1-16)"
  echo "tcp_only=$TCP_ONLY"
  echo "wakeups_method=proc_task_ctxsw"; echo "perf_syscalls=$HAVE_PERF_SYSCALLS"
} >"$W/meta"

for rd in $(seq 1 "$ROUNDS"); do
  order=()
  has_impl raw && order+=(raw)
  if [ $((rd % 2)) = 1 ]; then
    order+=("${TUNNEL_IMPLS[@]}")
  else
    for ((k = ${#TUNNEL_IMPLS[@]} - 1; k >= 0; k--)); do order+=("${TUNNEL_IMPLS[k]}"); done
  fi
  for impl in "${order[@]}"; do
    echo "bench: round $rd/$ROUNDS: $impl"
    run_impl "$impl" "$rd" || echo "bench: round $rd $impl failed; its figures will be missing" >&2
  done
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$W/meta"

mkdir -p "$OUT"
python3 "$SRC/bench/report.py" "$W" "$OUT/$stamp.json" "$OUT/$stamp.svg"
