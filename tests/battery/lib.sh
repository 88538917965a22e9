# Shared helpers of the fault battery (sourced by tests/battery/t_*.sh).
#
# Topology (bat_topology): three network namespaces
#   A  wgtun daemon "A" (the target), veth to B (192.168.241.0/24) and to C (192.168.242.0/24)
#   B  wgtun daemon "B" (the legitimate peer): tunnel 10.240.0.2 <-> A's 10.240.0.1
#   C  the attacker, with NSRC extra addresses 10.250.X.Y on its veth (A routes 10.250/16 to C)
# Every name starts with BAT_PREFIX (default wgf, 3 characters so interface names stay within
# 15) and carries the test's PID; everything is removed on exit.
# BAT_DAEMON_CPUS (a taskset CPU list, default empty: unpinned) starts every daemon under
# `taskset -c LIST`; its threads inherit the affinity (t_flood.sh's FLOOD_PIN sets it).
set -euo pipefail

BUILD=${BUILD:?BUILD dir}
MODE=${MODE:-short}
BAT_ID=${BAT_ID:-$$}
BAT_PREFIX=${BAT_PREFIX:-wgf}
T=$(mktemp -d "/tmp/wgf-battery.$BAT_ID.XXXX")
BAT_P=$BAT_PREFIX$BAT_ID
NS_A=${BAT_P}a NS_B=${BAT_P}b NS_C=${BAT_P}c
IF_A=${BAT_P}A IF_B=${BAT_P}B
VA_B=${BAT_P}ab VB_A=${BAT_P}ba VA_C=${BAT_P}ac VC_A=${BAT_P}ca
IP_A=192.168.241.1 IP_B=192.168.241.2 IP_AC=192.168.242.1 IP_C=192.168.242.2
TIP_A=10.240.0.1 TIP_B=10.240.0.2
PORT_A=51820 PORT_B=51821
SRC_BASE=10.250.0.1
BAT_DAEMON_CPUS=${BAT_DAEMON_CPUS:-}
BAT_PIDS=()
BAT_IFACES=() # further interfaces a test creates (their UAPI sockets are removed on exit)

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${BAT_NAME:-battery}" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
result() { printf 'RESULT %s: %s\n' "${BAT_NAME:-battery}" "$*"; }
nsa() { ip netns exec "$NS_A" "$@"; }
nsb() { ip netns exec "$NS_B" "$@"; }
nsc() { ip netns exec "$NS_C" "$@"; }

bat_cleanup() {
  local rc=$?
  set +e
  for p in "${BAT_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${BAT_PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$p" 2>/dev/null
  done
  for ns in "$NS_A" "$NS_B" "$NS_C"; do ip netns del "$ns" 2>/dev/null; done
  rm -f "/var/run/wireguard/$IF_A.sock" "/var/run/wireguard/$IF_B.sock"
  for i in "${BAT_IFACES[@]}"; do rm -f "/var/run/wireguard/$i.sock"; done
  if [ "$rc" != 0 ] && [ -d "$T" ]; then
    for f in "$T"/*.log; do
      [ -f "$f" ] && { echo "--- $f (tail, without debug lines)"; grep -v '^DEBUG' "$f" | tail -20; } >&2
    done
    for f in "$T"/asan.* "$T"/ubsan.* "$T"/tsan.*; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; } >&2; done
    if [ -n "${BATTERY_KEEP:-}" ]; then cp -r "$T" "$BATTERY_KEEP" && echo "logs kept in $BATTERY_KEEP" >&2; fi
  fi
  rm -rf "$T"
  exit "$rc"
}
trap bat_cleanup EXIT
trap 'exit 130' INT TERM

bg() { "$@" & BAT_PIDS+=("$!"); }

# Sanitizer settings for daemons from a sanitizer build: abort on the first report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:log_path=$T/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$T/ubsan}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:log_path=$T/tsan}

genkey() { wg genkey; }
hexkey() { base64 -d <<<"$1" | od -An -tx1 -v | tr -d ' \n'; }

# bat_topology [NSRC]: namespaces, veths, addresses (NSRC attacker addresses, default 1).
bat_topology() {
  local nsrc=${1:-1}
  ip netns add "$NS_A"; ip netns add "$NS_B"; ip netns add "$NS_C"
  for ns in "$NS_A" "$NS_B" "$NS_C"; do ip -n "$ns" link set lo up; done
  ip link add "$VA_B" netns "$NS_A" type veth peer name "$VB_A" netns "$NS_B"
  ip link add "$VA_C" netns "$NS_A" type veth peer name "$VC_A" netns "$NS_C"
  ip -n "$NS_A" addr add "$IP_A/24" dev "$VA_B"; ip -n "$NS_B" addr add "$IP_B/24" dev "$VB_A"
  ip -n "$NS_A" addr add "$IP_AC/24" dev "$VA_C"; ip -n "$NS_C" addr add "$IP_C/24" dev "$VC_A"
  for l in "$NS_A:$VA_B" "$NS_B:$VB_A" "$NS_A:$VA_C" "$NS_C:$VC_A"; do
    ip -n "${l%%:*}" link set "${l#*:}" up
  done
  ip -n "$NS_A" route add 10.250.0.0/16 via "$IP_C" dev "$VA_C"
  # attacker source addresses 10.250.0.1 ... (batched: ip -batch is much faster)
  local i b=()
  for ((i = 0; i < nsrc; i++)); do
    b+=("addr add 10.250.$(((i + 1) / 256)).$(((i + 1) % 256))/32 dev $VC_A")
  done
  printf '%s\n' "${b[@]}" | ip -n "$NS_C" -batch -
  # large receive buffers are not assumed: the daemon runs with the kernel default
}

# bat_daemon NS IFACE LOGFILE: starts BUILD/wgtun in the foreground in NS; sets DAEMON_PID.
bat_daemon() {
  local ns=$1 ifc=$2 logf=$3 pin=()
  [ -z "$BAT_DAEMON_CPUS" ] || pin=(taskset -c "$BAT_DAEMON_CPUS")
  # taskset and env exec, so $! is the daemon itself
  ip netns exec "$ns" "${pin[@]}" env WG_PROCESS_FOREGROUND=1 "$BUILD/wgtun" -v verbose "$ifc" >"$logf" 2>&1 &
  DAEMON_PID=$!
  BAT_PIDS+=("$DAEMON_PID")
  for _ in $(seq 100); do
    [ -S "/var/run/wireguard/$ifc.sock" ] && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon $ifc died at start"
    sleep 0.1
  done
  fail "daemon $ifc: no UAPI socket"
}

# bat_pair: two wgtun daemons A and B with one tunnel between them, handshake done.
bat_pair() {
  KEY_A=$(genkey) KEY_B=$(genkey) PSK=$(wg genpsk)
  PUB_A=$(wg pubkey <<<"$KEY_A") PUB_B=$(wg pubkey <<<"$KEY_B")
  bat_daemon "$NS_A" "$IF_A" "$T/daemonA.log"; PID_A=$DAEMON_PID
  bat_daemon "$NS_B" "$IF_B" "$T/daemonB.log"; PID_B=$DAEMON_PID
  nsa wg set "$IF_A" private-key <(echo "$KEY_A") listen-port $PORT_A \
    peer "$PUB_B" preshared-key <(echo "$PSK") endpoint "$IP_B:$PORT_B" allowed-ips "$TIP_B/32"
  nsb wg set "$IF_B" private-key <(echo "$KEY_B") listen-port $PORT_B \
    peer "$PUB_A" preshared-key <(echo "$PSK") endpoint "$IP_A:$PORT_A" allowed-ips "$TIP_A/32"
  # MTU 1420 as wg-quick sets it: outer datagrams then fit the 1500-byte veth unfragmented
  nsa ip addr add "$TIP_A/24" dev "$IF_A"; nsa ip link set "$IF_A" mtu 1420 up
  nsb ip addr add "$TIP_B/24" dev "$IF_B"; nsb ip link set "$IF_B" mtu 1420 up
  nsb ping -c 1 -W 5 "$TIP_A" >/dev/null || { sleep 1; nsb ping -c 2 -W 5 "$TIP_A" >/dev/null; } \
    || fail "no ping over the tunnel"
}

# stats PID LOGFILE: asks the daemon for its counters (SIGUSR1) and prints the stats line.
stats() {
  local pid=$1 logf=$2 n
  n=$(grep -c 'stats: ' "$logf" || true)
  kill -USR1 "$pid"
  for _ in $(seq 50); do
    [ "$(grep -c 'stats: ' "$logf" || true)" -gt "$n" ] && break
    sleep 0.1
  done
  grep 'stats: ' "$logf" | tail -1 | sed 's/.*stats: //'
}
# stat_get "STATS LINE" NAME
stat_get() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
# sum of every rx_* drop counter in a stats line
stat_rx_drops() { tr ' ' '\n' <<<"$1" | awk -F= '/^rx_/ {s += $2} END {print s + 0}'; }

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
nthreads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
nfds() { ls "/proc/$1/fd" | wc -l; }
# CPU seconds (user+sys) used so far by PID
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
alive() { kill -0 "$1" 2>/dev/null || fail "$2 died"; }
# alive_child PID NAME: as alive, for a daemon this shell started (its exit status is reported)
alive_child() {
  local rc=0
  kill -0 "$1" 2>/dev/null && return 0
  wait "$1" || rc=$?
  fail "$2 died (exit status $rc)"
}
# UDP receive-buffer drops in a namespace (packets the kernel dropped before the daemon)
udp_rcvbuf_errors() { ip netns exec "$1" awk '/^Udp:/ {n++; if (n == 2) print $6}' /proc/net/snmp; }

# sanitizer reports written by the daemons (log_path), if any
sanitizer_reports() { ls "$T"/asan.* "$T"/ubsan.* "$T"/tsan.* 2>/dev/null || true; }
check_sanitizers() {
  local r; r=$(sanitizer_reports)
  if [ -n "$r" ]; then cat $r >&2; fail "sanitizer report(s): $r"; fi
  if grep -qE 'runtime error:|ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer' \
       "$T"/*.log 2>/dev/null; then
    fail "sanitizer report in a daemon log"
  fi
}
