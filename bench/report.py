#!/usr/bin/env python3
"""Turn the raw outputs of bench/run.sh into the table, the JSON and the SVG chart.

    report.py SCRATCH_DIR OUT.json OUT.svg

SCRATCH_DIR holds `meta` (key=value) and one directory per round and impl, `r<N>-<impl>/`, with
`kv` (key=value readings from /proc), iperf3 JSON (`tcp1.json`, `tcp4.json`, `udp64.json`),
`ping.txt`, and for tunnels `firstreply.json`, `probefloor.json`, `perf_idle.csv`. <impl> is
raw, wggo, wgtun or wgtun-wN (wgtun with WGTUN_CRYPTO_WORKERS=N: its own column, and its own
ratio against wireguard-go).
Missing or failed measurements become null and are left out of the medians.
Standard library only.
"""
import json
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import chart  # noqa: E402  (bench/chart.py, next to this file)

# fixed order; wgtun-wN variants follow, by N; wgtun-base is another build (run.sh --base)
IMPLS = ["raw", "wggo", "wgtun-base", "wgtun", "wgtun-static"]
IMPL_NAMES = {"raw": "raw veth", "wggo": "wireguard-go", "wgtun": "wgtun",
              "wgtun-static": "wgtun static crypto", "wgtun-base": "wgtun (base build)"}
IMPL_RE = r"raw|wggo|wgtun-base|wgtun(?:-w[1-9][0-9]?|-static)?"


def impl_key(impl):
    """Sort key: raw, wggo, wgtun-base, wgtun, wgtun-static, then wgtun-w1, wgtun-w2, ..."""
    if impl in IMPLS:
        return (IMPLS.index(impl), 0)
    return (len(IMPLS), int(impl.split("-w")[1]))


def impl_name(impl):
    """Column heading: wgtun-wN is wgtun with WGTUN_CRYPTO_WORKERS=N."""
    if impl in IMPL_NAMES:
        return IMPL_NAMES[impl]
    n = int(impl.split("-w")[1])
    return "wgtun %d worker%s" % (n, "" if n == 1 else "s")

# key, label, unit, decimals, better ("hi" = higher is better, "lo" = lower)
METRICS = [
    ("tcp1_gbps", "TCP 1 stream", "Gbit/s", 3, "hi"),
    ("tcp4_gbps", "TCP 4 streams", "Gbit/s", 3, "hi"),
    ("tcp1_retrans", "TCP 1 retransmits", "segments", 0, "lo"),
    ("udp_ok_pps", "UDP 64 B delivered at the best rate with < 1 % loss", "packets/s", 0, "hi"),
    ("udp_ok_loss_pct", "  loss at that rate", "%", 2, "lo"),
    ("udp_fail_pps", "  first rate that failed (loss >= 1 % or sender short)", "packets/s", 0, "hi"),
    ("udp_pps", "UDP 64 B flat out: delivered", "packets/s", 0, "hi"),
    ("udp_offered_pps", "UDP 64 B flat out: offered (1 sender)", "packets/s", 0, "hi"),
    ("udp_loss_pct", "UDP 64 B flat out: loss", "%", 1, "lo"),
    ("rtt_min_ms", "ping RTT min", "ms", 3, "lo"),
    ("rtt_avg_ms", "ping RTT avg", "ms", 3, "lo"),
    ("cpu_s_per_gb", "daemon CPU per GB (A+B, TCP 1)", "CPU-s/GB", 2, "lo"),
    ("tcp1_daemon_cpu_s", "daemon CPU during TCP 1 (A+B)", "CPU-s", 2, "lo"),
    ("tcp1_busy_cores", "machine busy during TCP 1", "cores", 2, "lo"),
    ("tcp1_udp_rcvbuf_err", "B's UDP RcvbufErrors during TCP 1", "datagrams", 0, "lo"),
    ("peak_rss_mb", "peak RSS (VmHWM, larger daemon)", "MB", 1, "lo"),
    ("idle_rss_mb", "idle RSS (VmRSS, larger daemon)", "MB", 2, "lo"),
    ("idle_anon_mb", "  of which anonymous (RssAnon)", "MB", 2, "lo"),
    ("idle_file_mb", "  of which file-backed (RssFile)", "MB", 2, "lo"),
    ("idle_pss_mb", "  idle PSS (shared pages split among users)", "MB", 2, "lo"),
    ("idle_uss_mb", "  idle USS (Private_Clean + Private_Dirty)", "MB", 2, "lo"),
    ("after_rss_mb", "RSS right after the traffic (larger daemon)", "MB", 1, "lo"),
    ("reidle_rss_mb", "RSS idle again, --settle s after the traffic", "MB", 2, "lo"),
    ("reidle_uss_mb", "  USS idle again after the traffic", "MB", 2, "lo"),
    ("wakeups_per_s", "idle wakeups per daemon, as is (/proc ctxsw)", "1/s", 2, "lo"),
    ("wakeups_perf_per_s", "  as is (perf context-switches)", "1/s", 2, "lo"),
    ("syscalls_per_s", "  as is: system calls per daemon (perf)", "1/s", 2, "lo"),
    ("wakeups_quiet_per_s", "idle wakeups per daemon, IPv6 chatter off (/proc)", "1/s", 3, "lo"),
    ("wakeups_quiet_perf_per_s", "  IPv6 chatter off (perf context-switches)", "1/s", 3, "lo"),
    ("syscalls_quiet_per_s", "  IPv6 chatter off: system calls per daemon (perf)", "1/s", 3, "lo"),
    ("firstreply_ms", "wg set -> first reply", "ms", 2, "lo"),
    ("firstreply_net_ms", "  of which after wg set returned", "ms", 2, "lo"),
    ("probe_floor_ms", "probe floor (path already up)", "ms", 3, "lo"),
    ("start_ms", "daemon start -> UAPI socket (both)", "ms", 0, "lo"),
    ("threads", "threads per daemon (idle)", "", 0, "lo"),
    ("loadavg", "load average (1 min) at start", "", 2, "lo"),
]


def read_kv(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    out[k] = v
    except OSError:
        pass
    return out


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def num(kv, key):
    try:
        return float(kv[key])
    except (KeyError, ValueError):
        return None


def diff(kv, a, b):
    x, y = num(kv, a), num(kv, b)
    return None if x is None or y is None else y - x


def iperf_tcp(path):
    d = load_json(path)
    try:
        rx = d["end"]["sum_received"]
        return rx["bits_per_second"] / 1e9, rx["bytes"], d["end"]["sum_sent"].get("retransmits")
    except (TypeError, KeyError):
        return None, None, None


def iperf_udp(path):
    d = load_json(path)
    try:
        rx, tx = d["end"]["sum_received"], d["end"]["sum_sent"]
        delivered = rx["packets"] - rx["lost_packets"]
        return (delivered / rx["seconds"], tx["packets"] / tx["seconds"],
                100.0 * rx["lost_packets"] / rx["packets"] if rx["packets"] else None)
    except (TypeError, KeyError, ZeroDivisionError):
        return None, None, None


def ping_rtt(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None, None
    m = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms", text)
    return (float(m.group(1)), float(m.group(2))) if m else (None, None)


def perf_count(path, event="context-switches"):
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) > 3 and fields[2].startswith(event):
                    # "<not counted>" with a running time of 0: no thread ever ran in the
                    # window, which is zero switches, not a missing figure.
                    if fields[0] == "<not counted>" and fields[3] == "0":
                        return 0.0
                    return float(fields[0])
    except (OSError, ValueError):
        pass
    return None


def udp_steps(path):
    """The UDP rate search, step by step: [target, sent, delivered, loss %, ok, A's TUN queue
    drops, B's UDP RcvbufErrors, drops of B's daemon socket]."""
    steps = []
    try:
        with open(path) as f:
            for line in f:
                v = line.split()
                if len(v) == 8:
                    steps.append([float(v[0]), float(v[1]), float(v[2]), float(v[3]), v[4] == "1"] +
                                 [int(x) for x in v[5:]])
    except (OSError, ValueError):
        pass
    return steps


def measure(d, meta):
    """All metrics of one impl in one round."""
    kv = read_kv(os.path.join(d, "kv"))
    m = {}
    m["tcp1_gbps"], tcp1_bytes, m["tcp1_retrans"] = iperf_tcp(os.path.join(d, "tcp1.json"))
    m["tcp4_gbps"], _, _ = iperf_tcp(os.path.join(d, "tcp4.json"))
    m["udp_pps"], m["udp_offered_pps"], m["udp_loss_pct"] = iperf_udp(os.path.join(d, "udp64.json"))
    m["rtt_min_ms"], m["rtt_avg_ms"] = ping_rtt(os.path.join(d, "ping.txt"))
    m["udp_ok_pps"], m["udp_ok_loss_pct"] = num(kv, "udp_ok_delivered_pps"), num(kv, "udp_ok_loss_pct")
    m["udp_ok_target_pps"], m["udp_fail_pps"] = num(kv, "udp_ok_target_pps"), num(kv, "udp_fail_pps")
    if m["udp_ok_target_pps"] == 0:  # not even the lowest step passed
        m["udp_ok_pps"] = m["udp_ok_loss_pct"] = None
    m["udp_fail_reason"] = kv.get("udp_fail_reason") or None
    m["udp_search_steps"] = udp_steps(os.path.join(d, "udpsearch.txt"))
    busy, total = num(kv, "tcp1_busy_jiffies"), num(kv, "tcp1_total_jiffies")
    nproc = float(meta.get("nproc", "1"))
    m["tcp1_busy_cores"] = busy / total * nproc if busy is not None and total else None
    snmp0, snmp1 = kv.get("udp_snmp_b_0", ""), kv.get("udp_snmp_b_1", "")
    try:
        m["tcp1_udp_rcvbuf_err"] = int(snmp1.split(",")[1]) - int(snmp0.split(",")[1])
    except (IndexError, ValueError):
        m["tcp1_udp_rcvbuf_err"] = None
    m["loadavg"] = num(kv, "loadavg_start")
    if os.path.basename(d).endswith("-raw"):
        return m

    tck = float(meta.get("clk_tck", "100"))
    ca, cb = diff(kv, "cpu_a_0", "cpu_a_1"), diff(kv, "cpu_b_0", "cpu_b_1")
    if ca is not None and cb is not None:
        m["tcp1_daemon_cpu_s"] = (ca + cb) / tck
        m["tcp1_daemon_cpu_a_s"], m["tcp1_daemon_cpu_b_s"] = ca / tck, cb / tck
        m["cpu_s_per_gb"] = m["tcp1_daemon_cpu_s"] / (tcp1_bytes / 1e9) if tcp1_bytes else None
    kb = 1024 / 1e6  # /proc reports KiB; the table uses MB = 10^6 bytes
    mem = ["peak_rss"] + ["%s_%s" % (when, what) for when in ("idle", "after", "reidle")
                          for what in ("rss", "anon", "file", "shmem", "pss", "uss")]
    for name in mem:
        key = name
        a, b = num(kv, name + "_a_kb"), num(kv, name + "_b_kb")
        m[key + "_a_mb"] = a * kb if a is not None else None
        m[key + "_b_mb"] = b * kb if b is not None else None
        m[key + "_mb"] = max(a, b) * kb if a is not None and b is not None else None
    for win, sfx, secs in (("asis", "", "idle_s"), ("quiet", "_quiet", "quiet_s")):
        window = num(kv, win + "_window_s")
        wa = diff(kv, "ctx_%s_a_0" % win, "ctx_%s_a_1" % win)
        wb = diff(kv, "ctx_%s_b_0" % win, "ctx_%s_b_1" % win)
        if window and wa is not None and wb is not None:
            m["wakeups%s_a_per_s" % sfx], m["wakeups%s_b_per_s" % sfx] = wa / window, wb / window
            m["wakeups%s_per_s" % sfx] = (wa + wb) / 2 / window
        idle_s = num(meta, secs)
        path = os.path.join(d, "perf_%s.csv" % win)
        for key, event in (("wakeups%s_perf_per_s" % sfx, "context-switches"),
                           ("syscalls%s_per_s" % sfx, "raw_syscalls:sys_enter")):
            c = perf_count(path, event)
            m[key] = c / 2 / idle_s if c is not None and idle_s else None
    fr = load_json(os.path.join(d, "firstreply.json")) or {}
    m["firstreply_ms"], m["firstreply_cfg_ms"] = fr.get("total_ms"), fr.get("cfg_ms")
    m["firstreply_net_ms"] = fr.get("net_ms")
    m["probe_floor_ms"] = (load_json(os.path.join(d, "probefloor.json")) or {}).get("total_ms")
    m["start_ms"] = num(kv, "start_ms")
    ta, tb = num(kv, "threads_a"), num(kv, "threads_b")
    m["threads"] = max(ta, tb) if ta is not None and tb is not None else None
    return m


def median(values):
    # only figures: the search steps (lists) and reasons (text) stay per round
    vals = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return statistics.median(vals) if vals else None


def fmt(v, dec):
    if v is None:
        return "–"
    if dec == 0:
        return "{:,}".format(int(round(v))).replace(",", " ")
    return "%.*f" % (dec, v)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    scratch, out_json, out_svg = argv
    meta = read_kv(os.path.join(scratch, "meta"))
    rounds = []
    for name in sorted(os.listdir(scratch)):
        mt = re.fullmatch(r"r(\d+)-(%s)" % IMPL_RE, name)
        if mt:
            rounds.append({"round": int(mt.group(1)), "impl": mt.group(2),
                           "metrics": measure(os.path.join(scratch, name), meta)})
    rounds.sort(key=lambda r: (r["round"], impl_key(r["impl"])))
    present = sorted({r["impl"] for r in rounds}, key=impl_key)
    keys = sorted({k for r in rounds for k in r["metrics"]})
    medians = {i: {k: median([r["metrics"].get(k) for r in rounds if r["impl"] == i])
                   for k in keys} for i in present}
    # Every wgtun column (the default and each wgtun-wN) against wireguard-go.
    all_ratios = {}
    if "wggo" in medians:
        for i in present:
            if i.startswith("wgtun"):
                all_ratios[i] = {}
                for k in keys:
                    a, b = medians["wggo"].get(k), medians[i].get(k)
                    all_ratios[i][k] = b / a if a not in (None, 0) and b is not None else None
    ratios = all_ratios.get("wgtun", {})
    # A/B (run.sh --base): every other wgtun column against the base build, same rounds.
    base_ratios = {}
    if "wgtun-base" in medians:
        for i in present:
            if i.startswith("wgtun") and i != "wgtun-base":
                base_ratios[i] = {}
                for k in keys:
                    a, b = medians["wgtun-base"].get(k), medians[i].get(k)
                    base_ratios[i][k] = b / a if a not in (None, 0) and b is not None else None

    result = {"meta": meta, "impls": present, "rounds": rounds, "medians": medians,
              "ratio_wgtun_over_wggo": ratios, "ratios_over_wggo": all_ratios,
              "ratios_over_base": base_ratios,
              "metrics": [{"key": k, "label": lab, "unit": u, "better": bt}
                          for k, lab, u, _, bt in METRICS]}
    with open(out_json, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
        f.write("\n")
    chart.render(result, out_svg)

    print()
    print("wgtun benchmark %s on %s (%s CPUs), load avg %s -> %s; %s round(s), medians" % (
        meta.get("date", "?"), meta.get("cpu_model", "?"), meta.get("nproc", "?"),
        meta.get("loadavg_start", "?"), meta.get("loadavg_end", "?"), meta.get("rounds", "?")))
    if meta.get("pin") == "1":
        print("pinned (--pin): namespace A on CPU %s, B on CPU %s" % tuple(
            (meta.get("pin_cpus", "?,?").split(",") + ["?", "?"])[:2]))
    print()
    head = ["metric", "unit"] + [impl_name(i) for i in present]
    head += ["%s / wg-go" % impl_name(i) for i in all_ratios]
    head += ["%s / base" % impl_name(i) for i in base_ratios]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, label, unit, dec, _ in METRICS:
        row = [label.strip(), unit] + [fmt(medians[i].get(key), dec) for i in present]
        for rs in (all_ratios, base_ratios):
            for i in rs:
                r = rs[i].get(key)
                row.append("–" if r is None else "%.2f×" % r)
        if all(c == "–" for c in row[2:2 + len(present)]):
            continue
        print("| " + " | ".join(row) + " |")
    print()
    print("per round:")
    cols = [("tcp1_gbps", 3), ("tcp4_gbps", 3), ("udp_ok_pps", 0), ("udp_fail_pps", 0),
            ("udp_pps", 0), ("udp_loss_pct", 1),
            ("rtt_avg_ms", 3), ("cpu_s_per_gb", 2), ("idle_rss_mb", 2), ("idle_uss_mb", 2),
            ("peak_rss_mb", 1), ("reidle_rss_mb", 2),
            ("wakeups_per_s", 2), ("syscalls_quiet_per_s", 3), ("firstreply_ms", 2),
            ("loadavg", 2)]
    print("| rd | impl | " + " | ".join(c for c, _ in cols) + " |")
    print("|" + "---|" * (len(cols) + 2))
    for r in rounds:
        print("| %d | %s | " % (r["round"], r["impl"]) +
              " | ".join(fmt(r["metrics"].get(c), d) for c, d in cols) + " |")
    print()
    print("wrote %s and %s" % (out_json, out_svg))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
