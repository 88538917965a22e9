#!/usr/bin/env bash
# Per-packet counts of both wgtun daemons during a bulk TCP transfer, for bench/latency.sh's
# --exec (which sets up the namespaces and daemons and exports NS_A NS_B PA PB T_B):
#
#     sudo bash bench/latency.sh --values 0 --rounds 1 --exec 'bash bench/tcp_counts.sh'
#     sudo bash bench/latency.sh --build build-base/out --no-build --values 0 --rounds 1 \
#         --exec 'bash bench/tcp_counts.sh'                  # the same for another build
#     ... --exec 'TCP_COUNTS_PERF=/tmp/perf.data bash bench/tcp_counts.sh'   # + perf record -g
#
# Runs iperf3 TCP 1 stream A -> B for TCP_COUNTS_SECS + 3 s (default 8) and, over
# TCP_COUNTS_SECS s in the middle of it, `perf stat` of both daemons (futex calls, context
# switches, all system calls; tracepoints, no ptrace), or with TCP_COUNTS_PERF=FILE a
# `perf record -g -e cpu-clock` of both into FILE instead. Prints Gbit/s and, per 1368-byte
# segment (iperf3's average rate over the window), the counts. Needs perf (linux-perf).
set -euo pipefail
: "${NS_A:?run me from bench/latency.sh --exec}" "${NS_B:?}" "${PA:?}" "${PB:?}" "${T_B:?}"
secs=${TCP_COUNTS_SECS:-5}
command -v perf >/dev/null || { echo "tcp_counts: perf missing (apt-get install linux-perf)" >&2; exit 2; }
W=$(mktemp -d /tmp/tcpcounts.XXXXXX)
trap 'rm -rf "$W"' EXIT
ip netns exec "$NS_B" iperf3 -s -1 -D -B "$T_B"
sleep 0.5
ip netns exec "$NS_A" iperf3 -c "$T_B" -t $((secs + 3)) -J >"$W/iperf.json" &
ipid=$!
sleep 1.5
if [ -n "${TCP_COUNTS_PERF:-}" ]; then
  perf record -q -g -e cpu-clock -F 2000 -p "$PA,$PB" -o "$TCP_COUNTS_PERF" -- sleep "$secs" 2>/dev/null
else
  perf stat -x, -e syscalls:sys_enter_futex,context-switches,raw_syscalls:sys_enter \
    -p "$PA,$PB" -o "$W/stat.txt" -- sleep "$secs"
fi
wait "$ipid"
python3 - "$W" "$secs" <<'EOF'
import json, os, sys
w, secs = sys.argv[1], float(sys.argv[2])
d = json.load(open(os.path.join(w, "iperf.json")))
gbps = d["end"]["sum_received"]["bits_per_second"] / 1e9
pkts = gbps * 1e9 / 8 * secs / 1368
line = "tcp_counts: %.2f Gbit/s" % gbps
st = os.path.join(w, "stat.txt")
if os.path.exists(st):
    v = {}
    for l in open(st):
        f = l.strip().split(",")
        if len(f) > 3:
            try:
                v[f[2]] = float(f[0])
            except ValueError:
                pass
    for key, name in (("syscalls:sys_enter_futex", "futex"), ("context-switches", "cs"),
                      ("raw_syscalls:sys_enter", "syscalls")):
        if key in v:
            line += "  %s/pkt %.4f" % (name, v[key] / pkts)
print(line)
EOF
