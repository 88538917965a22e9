#!/usr/bin/env bash
# The README's demo command (scripts/demo.sh) against an existing build: both peer kinds run to
# the end with a handshake, pings, iperf3 and `wg show`; then an interrupted run (Ctrl-C as a
# terminal sends it, to the whole process group, and SIGTERM to the script alone) still removes
# everything. After each run: no namespace, veth, interface, socket file or process is left.
# Usage: t_demo.sh BUILD_DIR (as root).
set -uo pipefail
. "$(dirname "$0")/lib.sh" # for the counted checks only: demo.sh makes and removes its own names
set +e # every check is counted (wgi_check) and the test fails at the end, not at the first
build=$(cd "${1:?usage: t_demo.sh BUILD_DIR}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
demo=$here/../../scripts/demo.sh
tmp=$(mktemp -d /tmp/wgd-demo-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
has() { grep -Eq -- "$1" "$2"; }

# left_behind OUTFILE: prints what the run described by OUTFILE left behind (nothing = clean)
left_behind() {
  local out=$1 t p
  t=$(sed -n 's/.*namespaces wgd-a-\([0-9]*\) .*/\1/p' "$out" | head -1)
  [ -n "$t" ] || { echo "no names in the output"; return; }
  ip netns list | grep -E "^wgd-[ab]-$t( |$)" | sed 's/^/netns /'
  for p in wgdva$t wgdvb$t wgda$t wgdb$t; do
    ip link show dev "$p" >/dev/null 2>&1 && echo "link $p"
    [ -e "/var/run/wireguard/$p.sock" ] && echo "socket $p.sock"
  done
  # every pid the demo started (daemons, iperf3 server) and any process naming its interfaces
  for p in $(sed -n 's/.*(pid \([0-9]*\)).*/\1/p' "$out"); do
    kill -0 "$p" 2>/dev/null && echo "process $p ($(ps -o args= -p "$p"))"
  done
  ps -eo pid=,args= | awk -v t="$t" '$NF == "wgda" t || $NF == "wgdb" t { print "process " $0 }'
  ls -d /tmp/wgtun-demo.* 2>/dev/null | while read -r d; do
    grep -q "$d" "$out" && echo "temp dir $d"
  done
}

for peer in wgtun wireguard-go; do
  echo "== demo --peer $peer"
  out=$tmp/demo-$peer.out
  timeout 120 bash "$demo" --build-dir "$build" --peer "$peer" --iperf-seconds 1 >"$out" 2>&1
  rc=$?
  wgi_check "$peer: exit 0 (rc=$rc)" test "$rc" = 0
  wgi_check "$peer: reused the build (nothing rebuilt)" has "reusing the build in $build" "$out"
  wgi_check "$peer: both daemons started" has "wgd-b-[0-9]+: $peer wgdb[0-9]+ \(pid [0-9]+\)" "$out"
  wgi_check "$peer: handshake shown" has "handshake: done in [0-9]+ ms \(wgtun initiated, $peer responded\)" "$out"
  wgi_check "$peer: IPv4 and IPv6 pings all answered" \
    test "$(grep -c '3 packets transmitted, 3 received, 0% packet loss' "$out")" = 2
  wgi_check "$peer: iperf3 moved data" has "^    iperf3: [0-9.]+ Mbit/s" "$out"
  wgi_check "$peer: iperf3 rate is not zero" bash -c "! grep -q '^    iperf3: 0\.00 Mbit/s' '$out'"
  wgi_check "$peer: wg show of both ends, with handshake and transfer" \
    test "$(grep -Ec '^      (latest handshake: [0-9]+ seconds? ago|latest handshake: Now)' "$out")" -ge 2 -a \
    "$(grep -Ec '^      transfer: .* received, .* sent' "$out")" = 2
  wgi_check "$peer: finished" has "==> demo finished" "$out"
  lb=$(left_behind "$out")
  wgi_check "$peer: nothing left behind${lb:+: $lb}" test -z "$lb"
  [ "$rc" = 0 ] || sed 's/^/      | /' "$out"
done

# interrupt SIGNAL HOW: starts a run, waits until iperf3 is running, then signals it
interrupt() {
  local sig=$1 how=$2 out=$tmp/demo-$1-$2.out pid rc n=0 failed=$WGI_FAILED
  echo "== demo interrupted by SIG$sig ($how)"
  : >"$out"
  set -m # own process group, and SIGINT not ignored in this background job
  bash "$demo" --build-dir "$build" --iperf-seconds 8 >"$out" 2>&1 &
  pid=$!
  set +m
  while ! grep -q '==> iperf3 for' "$out" && kill -0 "$pid" 2>/dev/null && [ $n -lt 600 ]; do
    sleep 0.1; n=$((n + 1))
  done
  sleep 0.5
  if [ "$how" = group ]; then kill "-$sig" -- "-$pid"; else kill "-$sig" "$pid"; fi
  n=0
  while kill -0 "$pid" 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
  if kill -0 "$pid" 2>/dev/null; then wgi_bad "SIG$sig: demo still running after 30 s"; kill -KILL -- "-$pid"; fi
  wait "$pid"; rc=$?
  wgi_check "SIG$sig ($how): interrupted during iperf3 and exited non-zero (rc=$rc)" \
    bash -c "grep -q '==> iperf3 for' '$out' && [ $rc != 0 ] && ! grep -q '==> demo finished' '$out'"
  wgi_check "SIG$sig ($how): cleanup ran" has "==> cleaning up" "$out"
  lb=$(left_behind "$out")
  wgi_check "SIG$sig ($how): nothing left behind${lb:+: $lb}" test -z "$lb"
  # the run's own output says why it ended early (e.g. a handshake that timed out)
  [ "$WGI_FAILED" = "$failed" ] || sed 's/^/      | /' "$out"
}
interrupt INT group
interrupt TERM script

wgi_summary t_demo
