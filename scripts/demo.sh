#!/usr/bin/env bash
# The demo: two network namespaces joined by a veth pair, wgtun in one and wgtun (or
# wireguard-go) in the other, configured with stock `wg`; shows the handshake, pings through the
# tunnel, runs a short iperf3 and prints `wg show`. Everything it creates is removed at the end,
# also on Ctrl-C. Debian 12, as root.
#
#   bash scripts/demo.sh [--peer wgtun|wireguard-go] [--build-dir DIR] [--iperf-seconds N]
#
# Environment: DEMO_PEER, WGTUN_BUILD_DIR (a build dir that already holds `wgtun` is reused
# as is, nothing is built), DEMO_IPERF_SECONDS (default 3), JOBS (parallel build jobs).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

peer=${DEMO_PEER:-wgtun}
build=${WGTUN_BUILD_DIR:-build-demo}
secs=${DEMO_IPERF_SECONDS:-3}
usage() { echo "usage: bash scripts/demo.sh [--peer wgtun|wireguard-go] [--build-dir DIR] [--iperf-seconds N]"; }
while [ $# -gt 0 ]; do
  case $1 in
    --peer) peer=${2:?--peer needs wgtun or wireguard-go}; shift 2 ;;
    --peer=*) peer=${1#*=}; shift ;;
    --build-dir) build=${2:?--build-dir needs a directory}; shift 2 ;;
    --build-dir=*) build=${1#*=}; shift ;;
    --iperf-seconds) secs=${2:?--iperf-seconds needs a number}; shift 2 ;;
    --iperf-seconds=*) secs=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "demo: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
case $peer in wgtun|wireguard-go) ;; *) echo "demo: --peer must be wgtun or wireguard-go" >&2; exit 2 ;; esac
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "demo: --iperf-seconds must be a positive integer" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "demo: run me as root (network namespaces, TUN devices)" >&2; exit 1; }

if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold= plain=; fi
say() { printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"; }
info() { printf '    %s\n' "$*"; }
indent() { sed 's/^/    /'; }

# ---- names (unique per run: the UAPI socket directory is shared by every namespace) ----
tag=$$
ns_a=wgd-a-$tag ns_b=wgd-b-$tag
veth_a=wgdva$tag veth_b=wgdvb$tag
wg_a=wgda$tag wg_b=wgdb$tag
outer_a=10.99.0.1 outer_b=10.99.0.2
inner_a=10.100.0.1 inner_b=10.100.0.2
inner6_a=fd00:100::1 inner6_b=fd00:100::2
port_a=51820 port_b=51821
tmp=
pids=()

# fds 7/8: the terminal, for messages from traps that may fire inside a redirected command
exec 7>&1 8>&2
cleanup() {
  local rc=$? p n
  trap - EXIT INT TERM
  set +e
  exec 1>&7 2>&8
  say "cleaning up"
  # Deleting the interfaces makes both daemons exit and remove their sockets.
  ip netns exec "$ns_a" ip link del dev "$wg_a" 2>/dev/null
  ip netns exec "$ns_b" ip link del dev "$wg_b" 2>/dev/null
  for p in "${pids[@]}"; do
    n=0
    while kill -0 "$p" 2>/dev/null && [ $n -lt 30 ]; do
      [ $n = 0 ] && kill -TERM "$p" 2>/dev/null
      sleep 0.1; n=$((n + 1))
    done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  ip netns del "$ns_a" 2>/dev/null # takes the veth pair with it
  ip netns del "$ns_b" 2>/dev/null
  rm -f "/var/run/wireguard/$wg_a.sock" "/var/run/wireguard/$wg_b.sock"
  [ -n "$tmp" ] && rm -rf "$tmp"
  info "removed namespaces $ns_a $ns_b, veth $veth_a/$veth_b, interfaces $wg_a $wg_b, processes ${pids[*]:-none}"
  if [ "$rc" = 0 ]; then say "demo finished"; else say "demo stopped (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo >&8; echo "demo: interrupted" >&8; exit 130' INT TERM

# ---- 1. dependencies and build ----
say "dependencies (scripts/deps.sh)"
bash scripts/deps.sh
info "ok: $(wg --version 2>&1 | head -1), $(iperf3 --version | head -1 | cut -d' ' -f1-2)"

if [ -x "$build/wgtun" ]; then
  say "reusing the build in $build"
else
  say "building wgtun (Release) in $build"
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" --target wgtun -j "${JOBS:-$(nproc)}" | tail -n 1 | indent
fi
wgtun=$(cd "$build" && pwd)/wgtun
info "$("$wgtun" --version | head -1)"
if [ "$peer" = wireguard-go ]; then peer_bin=$(command -v wireguard-go); else peer_bin=$wgtun; fi
tmp=$(mktemp -d /tmp/wgtun-demo.XXXXXX)

# ---- 2. two namespaces and a veth pair ----
say "network: namespaces $ns_a and $ns_b, veth $veth_a <-> $veth_b"
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$veth_a" netns "$ns_a" type veth peer name "$veth_b" netns "$ns_b"
A() { ip netns exec "$ns_a" "$@"; }
B() { ip netns exec "$ns_b" "$@"; }
A ip link set lo up; B ip link set lo up
A ip addr add "$outer_a/24" dev "$veth_a"; A ip link set "$veth_a" up
B ip addr add "$outer_b/24" dev "$veth_b"; B ip link set "$veth_b" up
info "$ns_a: $veth_a $outer_a/24        $ns_b: $veth_b $outer_b/24"

# ---- 3. the daemons ----
pid_of() { ps -eo pid=,args= | awk -v i="$1" '$NF == i { print $1; exit }'; }
say "starting the daemons"
A "$wgtun" "$wg_a"
pids+=("$(pid_of "$wg_a")")
info "$ns_a: wgtun $wg_a (pid ${pids[0]})"
# wireguard-go prints a banner about the kernel module; not interesting here
B "$peer_bin" "$wg_b" >"$tmp/peer.out" 2>&1 || { cat "$tmp/peer.out"; exit 1; }
pids+=("$(pid_of "$wg_b")")
info "$ns_b: $peer $wg_b (pid ${pids[1]})"

# ---- 4. keys and configuration with wg ----
say "configuring both ends with wg(8)"
umask 077
wg genkey >"$tmp/a.key"; wg pubkey <"$tmp/a.key" >"$tmp/a.pub"
wg genkey >"$tmp/b.key"; wg pubkey <"$tmp/b.key" >"$tmp/b.pub"
A wg set "$wg_a" private-key "$tmp/a.key" listen-port "$port_a" \
  peer "$(cat "$tmp/b.pub")" endpoint "$outer_b:$port_b" allowed-ips "$inner_b/32,$inner6_b/128"
B wg set "$wg_b" private-key "$tmp/b.key" listen-port "$port_b" \
  peer "$(cat "$tmp/a.pub")" endpoint "$outer_a:$port_a" allowed-ips "$inner_a/32,$inner6_a/128"
A ip addr add "$inner_a/24" dev "$wg_a"; A ip addr add "$inner6_a/64" dev "$wg_a"; A ip link set "$wg_a" up
B ip addr add "$inner_b/24" dev "$wg_b"; B ip addr add "$inner6_b/64" dev "$wg_b"; B ip link set "$wg_b" up
info "wg set $wg_a private-key … listen-port $port_a peer $(cut -c1-8 "$tmp/b.pub")… endpoint $outer_b:$port_b allowed-ips $inner_b/32,$inner6_b/128"
info "wg set $wg_b private-key … listen-port $port_b peer $(cut -c1-8 "$tmp/a.pub")… endpoint $outer_a:$port_a allowed-ips $inner_a/32,$inner6_a/128"
info "tunnel addresses: $inner_a, $inner6_a ($ns_a)   $inner_b, $inner6_b ($ns_b)"

# ---- 5. handshake ----
say "handshake (the first packet from $ns_a starts it)"
t0=$(date +%s%N)
A ping -c 1 -W 5 "$inner_b" >/dev/null 2>&1 || true
hs=0
for _ in $(seq 50); do
  hs=$(A wg show "$wg_a" latest-handshakes | awk '{print $2}')
  [ "${hs:-0}" != 0 ] && break
  sleep 0.1
done
if [ "${hs:-0}" = 0 ]; then echo "demo: no handshake within 5 s" >&2; A wg show "$wg_a" | indent >&2; exit 1; fi
t1=$(date +%s%N)
info "handshake: done in $(((t1 - t0) / 1000000)) ms (wgtun initiated, $peer responded)"
A wg show "$wg_a" | grep -E 'peer|endpoint|latest handshake' | indent

# ---- 6. ping through the tunnel ----
say "ping through the tunnel, IPv4 and IPv6"
A ping -c 3 -i 0.2 -W 2 "$inner_b" | grep -E 'bytes from|packets transmitted' | indent
A ping -6 -c 3 -i 0.2 -W 2 "$inner6_b" | grep -E 'bytes from|packets transmitted' | indent

# ---- 7. iperf3 ----
say "iperf3 for $secs s, $ns_a -> $ns_b through the tunnel"
B iperf3 -s -1 -B "$inner_b" >"$tmp/iperf-server.out" 2>&1 &
pids+=("$!")
for _ in $(seq 50); do B ss -ltn 2>/dev/null | grep -q "$inner_b:5201" && break; sleep 0.1; done
A timeout $((secs + 20)) iperf3 -c "$inner_b" -t "$secs" -f m >"$tmp/iperf.out" 2>&1 ||
  { cat "$tmp/iperf.out"; exit 1; }
grep -E 'sender|receiver' "$tmp/iperf.out" | sed 's/^\[ *[0-9]*\] *//' | indent
rate=$(awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i+1) == "Mbits/sec") print $i }' "$tmp/iperf.out")
info "iperf3: ${rate:-?} Mbit/s (one TCP stream, both ends on this machine)"

# ---- 8. wg show ----
say "wg show in $ns_a (wgtun)"
A wg show "$wg_a" | indent
say "wg show in $ns_b ($peer)"
B wg show "$wg_b" | indent
