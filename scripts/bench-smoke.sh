#!/usr/bin/env bash
# CI's benchmark smoke run: bench/run.sh --smoke (raw veth, wireguard-go, wgtun; one round of
# 1-second tests) on an existing build's wgtun, its results in a scratch dir (never in the
# clone's bench/results), and a check that it produced the table and a TCP figure > 0 for
# wgtun (a broken harness or a tunnel that carries nothing fails). As root.
#   bash scripts/bench-smoke.sh BUILD_DIR [extra bench/run.sh options]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: bench-smoke.sh BUILD_DIR}" && pwd)
shift
out=$(mktemp -d /tmp/wgtun-bench-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
bash "$root/bench/run.sh" --smoke --no-build --wgtun "$build/wgtun" --out "$out" \
  --prefix "${BENCH_PREFIX:-ci}" "$@" | tee "$out/report.txt"
json=$(ls "$out"/smoke-*.json 2>/dev/null | head -n 1)
[ -n "$json" ] || { echo "bench-smoke: no results JSON in $out" >&2; exit 1; }
grep -q '^| TCP 1 stream |' "$out/report.txt" || { echo "bench-smoke: no table with TCP 1 stream" >&2; exit 1; }
python3 - "$json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m = r["medians"].get("wgtun", {})
for k in ("tcp1_gbps", "tcp4_gbps"):
    v = m.get(k)
    if not isinstance(v, (int, float)) or v <= 0:
        sys.exit("bench-smoke: wgtun %s is %r, want > 0" % (k, v))
print("bench-smoke: wgtun TCP 1 stream %.2f Gbit/s, 4 streams %.2f Gbit/s" %
      (m["tcp1_gbps"], m["tcp4_gbps"]))
PY
