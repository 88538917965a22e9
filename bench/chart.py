#!/usr/bin/env python3
"""Render the benchmark's medians as an SVG chart (standard library only).

    chart.py RESULTS.json OUT.svg

One small panel per headline metric, one horizontal bar per implementation, each panel on its
own linear scale starting at zero, with the value written next to the bar (raw veth dwarfs the
tunnels on throughput; the numbers keep the small bars readable). report.py calls render().
"""
import json
import sys
from xml.sax.saxutils import escape

COLORS = {"raw": "#9e9e9e", "wggo": "#e07b39", "wgtun": "#2f6db5"}
NAMES = {"raw": "raw veth", "wggo": "wireguard-go", "wgtun": "wgtun",
         "wgtun-static": "wgtun static crypto", "wgtun-base": "wgtun (base)"}
VARIANT_COLORS = ["#6fa0dc", "#1d4580", "#8fb8e8", "#0f2d57"]  # wgtun-wN, lighter/darker blues


def color(impl, impls):
    if impl in COLORS:
        return COLORS[impl]
    variants = [i for i in impls if i not in COLORS]
    return VARIANT_COLORS[variants.index(impl) % len(VARIANT_COLORS)]


def name(impl):
    """wgtun-wN: wgtun with WGTUN_CRYPTO_WORKERS=N."""
    return NAMES.get(impl) or "wgtun w=%s" % impl.split("-w")[1]
# Same keys as report.METRICS entries with chart=True (kept here so chart.py runs standalone
# on any results JSON).
PANELS = [
    ("tcp1_gbps", "TCP 1 stream", "Gbit/s", "hi", 3),
    ("tcp4_gbps", "TCP 4 streams", "Gbit/s", "hi", 3),
    ("udp_ok_pps", "UDP 64 B delivered, best rate with < 1 % loss", "packets/s", "hi", 0),
    ("udp_pps", "UDP 64 B delivered, flat out", "packets/s", "hi", 0),
    ("rtt_avg_ms", "ping RTT avg", "ms", "lo", 3),
    ("cpu_s_per_gb", "daemon CPU per GB (both daemons)", "CPU-s/GB", "lo", 2),
    ("peak_rss_mb", "peak RSS (larger daemon)", "MB", "lo", 1),
    ("idle_rss_mb", "idle RSS (larger daemon)", "MB", "lo", 2),
    ("reidle_rss_mb", "RSS idle again after the traffic (larger daemon)", "MB", "lo", 2),
    ("wakeups_per_s", "idle wakeups per daemon (as is)", "per s", "lo", 2),
    ("wakeups_quiet_per_s", "idle wakeups per daemon (IPv6 chatter off)", "per s", "lo", 3),
    ("firstreply_ms", "wg set -> first ping reply", "ms", "lo", 2),
]

WIDTH, LEFT, BAR_H, GAP, TITLE_H, PANEL_GAP = 760, 120, 16, 4, 20, 14


def fmt(v, dec):
    if dec == 0:
        return "{:,}".format(int(round(v))).replace(",", " ")
    return "%.*f" % (dec, v)


def render(result, path):
    impls = result.get("impls", [])
    med = result.get("medians", {})
    ratios = result.get("ratio_wgtun_over_wggo", {})
    # older results have only the default wgtun's ratios
    all_ratios = result.get("ratios_over_wggo") or ({"wgtun": ratios} if ratios else {})
    meta = result.get("meta", {})
    out = []
    y = 46
    for key, label, unit, better, dec in PANELS:
        vals = [(i, med.get(i, {}).get(key)) for i in impls]
        vals = [(i, v) for i, v in vals if v is not None]
        if not vals:
            continue
        title = "%s (%s, %s is better)" % (label, unit, "higher" if better == "hi" else "lower")
        parts = ["%s %.2f×" % (name(i), rs[key]) for i, rs in all_ratios.items()
                 if rs.get(key) is not None]
        if parts:
            title += "   vs wireguard-go: " + ", ".join(parts)
        out.append('<text x="10" y="%d" class="t">%s</text>' % (y + 13, escape(title)))
        y += TITLE_H
        top = max(v for _, v in vals) or 1.0
        span = WIDTH - LEFT - 110
        for impl, v in vals:
            w = max(0.0, v / top * span)
            out.append('<text x="%d" y="%d" class="l">%s</text>' % (LEFT - 6, y + 12, escape(name(impl))))
            out.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
                LEFT, y, w, BAR_H, color(impl, impls)))
            out.append('<text x="%.1f" y="%d" class="v">%s</text>' % (
                LEFT + w + 5, y + 12, escape(fmt(v, dec))))
            y += BAR_H + GAP
        y += PANEL_GAP
    head = "wgtun vs wireguard-go vs raw veth: medians of %s round(s)" % meta.get("rounds", "?")
    sub = "%s, %s × %s, kernel %s, load avg at start %s, wireguard-go %s, git %s" % (
        meta.get("date", "?"), meta.get("nproc", "?"), meta.get("cpu_model", "?"),
        meta.get("host_kernel", "?"), meta.get("loadavg_start", "?"),
        meta.get("wireguard_go_version", "?"), meta.get("git_rev", "?"))
    height = y + 10
    svg = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
        'viewBox="0 0 %d %d" font-family="sans-serif">' % (WIDTH, height, WIDTH, height),
        "<style>.h{font-size:15px;font-weight:bold}.s{font-size:11px;fill:#555}"
        ".t{font-size:12px;font-weight:bold}.l{font-size:11px;text-anchor:end}"
        ".v{font-size:11px}</style>",
        '<rect width="100%" height="100%" fill="white"/>',
        '<text x="10" y="18" class="h">%s</text>' % escape(head),
        '<text x="10" y="34" class="s">%s</text>' % escape(sub),
    ] + out + ["</svg>"]
    with open(path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0]) as f:
        render(json.load(f), argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
