#!/usr/bin/env bash
# What an idle wgtun really touches, against what its RSS counts (docs/memory.md, "Why so
# much is resident"). Two daemons in two network namespaces, handshake, a ping, --settle s
# idle; daemon A runs twice: once plainly (its smaps: Rss per mapping) and once under
# valgrind's lackey (every page it read, wrote or executed from exec to idle, counted by
# bench/touched.c). Prints per mapping Rss KiB and touched KiB.
#
#     sudo bash bench/touched.sh [--prefix P] [--settle S] WGTUN [PEER_WGTUN]
#
# PEER_WGTUN (default WGTUN) is daemon B: give another build so that A's binary is mapped by
# A alone (its USS is then what an app embedding that build would own). Needs valgrind.
# Takes about a minute (lackey is slow). Cleans up its namespaces and daemons on any exit.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
NP="" SETTLE=4
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) NP=${2?}; shift 2 ;;
    --settle) SETTLE=${2:?}; shift 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $NP =~ ^[a-z0-9]{0,3}$ ]] || { echo "touched: --prefix: up to 3 characters a-z 0-9" >&2; exit 2; }
A=$(readlink -f "$1") B=$(readlink -f "${2:-$1}")
command -v valgrind >/dev/null || { echo "touched: needs valgrind" >&2; exit 2; }
ID=$$ NA="${NP}wgp$$-a" NB="${NP}wgp$$-b" VA="${NP}vp$$a" VB="${NP}vp$$b"
W=$(mktemp -d /tmp/wgtouched.XXXXXX) PIDS=() IFS_=()
cleanup() {
  local p
  set +e
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do  # valgrind takes a few seconds to exit
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
  done
  wait 2>/dev/null
  ip netns del "$NA" 2>/dev/null; ip netns del "$NB" 2>/dev/null
  for p in "${IFS_[@]}"; do rm -f "/var/run/wireguard/$p.sock"; done
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cc -O2 -o "$W/touched" "$SRC/bench/touched.c"
ip netns add "$NA"; ip netns add "$NB"
ip link add "$VA" netns "$NA" type veth peer name "$VB" netns "$NB"
ip -n "$NA" addr add 192.168.242.1/24 dev "$VA"; ip -n "$NB" addr add 192.168.242.2/24 dev "$VB"
ip -n "$NA" link set "$VA" up; ip -n "$NB" link set "$VB" up
(umask 077; wg genkey >"$W/ka"; wg genkey >"$W/kb")

# run N WRAP...: daemons A (under WRAP) and B up, handshake, ping, settle; sets PA.
run() {
  local n=$1 ia="${NP}tp$ID${1}a" ib="${NP}tp$ID${1}b" i ok=0; shift
  IFS_+=("$ia" "$ib")
  WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error ip netns exec "$NA" "$@" "$A" -f "$ia" >"$W/a$n.log" 2>&1 &
  PA=$!; PIDS+=("$PA")
  WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error ip netns exec "$NB" "$B" -f "$ib" >"$W/b$n.log" 2>&1 &
  PB=$!; PIDS+=("$PB")
  for i in $(seq 1 600); do
    [ -S "/var/run/wireguard/$ia.sock" ] && [ -S "/var/run/wireguard/$ib.sock" ] && break; sleep 0.05
  done
  ip -n "$NA" link set "$ia" mtu 1420 up; ip -n "$NB" link set "$ib" mtu 1420 up
  ip -n "$NA" addr add 10.242.$n.1/24 dev "$ia"; ip -n "$NB" addr add 10.242.$n.2/24 dev "$ib"
  ip netns exec "$NB" wg set "$ib" private-key "$W/kb" listen-port $((51830 + n)) \
    peer "$(wg pubkey <"$W/ka")" allowed-ips 10.242.$n.1/32
  ip netns exec "$NA" wg set "$ia" private-key "$W/ka" listen-port $((51840 + n)) \
    peer "$(wg pubkey <"$W/kb")" endpoint 192.168.242.2:$((51830 + n)) allowed-ips 10.242.$n.2/32
  for i in 1 2 3 4 5 6; do  # under lackey the first handshake takes seconds
    ip netns exec "$NA" ping -q -c 1 -W 10 10.242.$n.2 >/dev/null 2>&1 && { ok=1; break; }
  done
  [ "$ok" = 1 ] || { echo "touched: no ping reply through the tunnel (run $n)" >&2; exit 1; }
  sleep "$SETTLE"
}
stop() { kill -TERM "$PA" "$PB" 2>/dev/null; wait "$PA" "$PB" 2>/dev/null || true; }

run 1 env
cp "/proc/$PA/smaps" "$W/smaps"
grep -E '^(VmRSS|RssAnon|RssFile):' "/proc/$PA/status" | tr -s ' \t\n' ' '; echo
awk '/^Pss:/ { p = $2 } /^Private_(Clean|Dirty):/ { u += $2 } END { print "PSS " p " kB, USS " u " kB" }' \
  "/proc/$PA/smaps_rollup"
stop
run 2 bash -c 'exec valgrind --tool=lackey --trace-mem=yes --log-fd=3 "$@" 3> >(exec "'"$W"'/touched" "'"$W"'/pages")' _
cp "/proc/$PA/maps" "$W/maps"
kill -USR1 "$(cat "$W/pages.pid")"
for i in $(seq 1 100); do [ -f "$W/pages" ] && break; sleep 0.1; done
python3 "$SRC/bench/touched.py" "$W/maps" "$W/smaps" "$W/pages"
