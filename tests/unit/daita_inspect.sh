#!/usr/bin/env bash
# wgtun-daita inspect against tests/vectors/maybenot: every valid string prints its expected
# machine (compared as JSON values per SCHEMA.md: u64 exact, float64/float32 by bit pattern,
# any NaN equal), every invalid string prints {"error": ...} and exits 1, "-" reads stdin,
# bad usage exits 2 with a message on stderr and nothing on stdout.
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
exec python3 - "$build/wgtun-daita" "$src/tests/vectors/maybenot" <<'PY'
import json, math, struct, subprocess, sys

tool, vec = sys.argv[1], sys.argv[2]
machines = json.load(open(f"{vec}/machines.json"))["machines"]
invalid = json.load(open(f"{vec}/invalid.json"))["invalid"]
fails = 0
checks = 0

def check(cond, msg):
    global fails, checks
    checks += 1
    if not cond:
        fails += 1
        print("FAIL:", msg, file=sys.stderr)

def fbits(v, fmt):
    if isinstance(v, str):
        v = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[v]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("not a number: %r" % (v,))
    v = float(v)
    if math.isnan(v):
        return "nan"
    return struct.pack("<" + fmt, v)

# Keys whose values are integers (u64/usize); every other number is float64, except the
# probability of a Trans ([target, probability] inside a transitions list), a float32.
INT_KEYS = {"allowed_padding_packets", "allowed_blocked_microsec", "trials"}
SPECIAL = ("NaN", "Infinity", "-Infinity")

def eq(a, b, ctx=None, path="$"):
    """None if equal per SCHEMA.md's comparison rules, else where they differ.
    ctx: the key this value sits under; "lists" for the transitions object's values."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return path + ": keys differ"
        for k in a:
            sub = "lists" if ctx == "transitions" else k
            r = eq(a[k], b[k], sub, path + "." + k)
            if r:
                return r
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return path + ": lengths differ"
        if ctx == "lists":  # a list of Trans
            for i, (x, y) in enumerate(zip(a, b)):
                p = f"{path}[{i}]"
                if not (isinstance(x, list) and isinstance(y, list) and len(x) == len(y) == 2):
                    return p + ": not a Trans"
                if type(x[0]) is not int or type(y[0]) is not int or x[0] != y[0]:
                    return p + ": target differs"
                if fbits(x[1], "f") != fbits(y[1], "f"):
                    return p + ": probability differs"
            return None
        for i, (x, y) in enumerate(zip(a, b)):
            r = eq(x, y, ctx, f"{path}[{i}]")
            if r:
                return r
        return None
    if ctx in INT_KEYS:
        return None if type(a) is int and type(b) is int and a == b else path + ": integer differs"
    if isinstance(a, (bool, type(None), dict, list)) or isinstance(b, (bool, type(None), dict, list)):
        return None if a is b else path + ": differs"
    if isinstance(a, str) and a not in SPECIAL or isinstance(b, str) and b not in SPECIAL:
        return None if a == b else path + ": string differs"
    return None if fbits(a, "d") == fbits(b, "d") else path + ": float64 differs"

eq_machine = eq

def run(args, stdin=None):
    return subprocess.run([tool] + args, input=stdin, capture_output=True, text=True)

# 1. all valid strings in one call, one line each, in order
r = run(["inspect"] + [m["string"] for m in machines])
check(r.returncode == 0, f"valid strings: exit {r.returncode}: {r.stderr}")
lines = r.stdout.split("\n")
check(lines[-1] == "" and len(lines) - 1 == len(machines), "one line per valid string")
for m, line in zip(machines, lines):
    got = json.loads(line)
    d = eq_machine(got, m["machine"])
    check(d is None, f"{m['id']}: {d}")

# self-test of the comparator: it must notice a one-ulp change and an integer change
m0 = json.loads(json.dumps(machines[1]["machine"]))
m0["states"][1]["action"]["timeout"]["start"] = 5000000.000000001
check(eq_machine(m0, machines[1]["machine"]) is not None, "comparator sees float64 change")
m0 = json.loads(json.dumps(machines[1]["machine"]))
m0["allowed_padding_packets"] = 18446744073709551614
check(eq_machine(m0, machines[1]["machine"]) is not None, "comparator sees u64 change")
m0 = json.loads(json.dumps(machines[1]["machine"]))
m0["states"][0]["transitions"]["TunnelRecv"][0][1] = 0.99999994
check(eq_machine(m0, machines[1]["machine"]) is not None, "comparator sees float32 change")

# 2. invalid strings: each gives {"error": "..."} and exit 1
for e in invalid:
    r = run(["inspect", e["string"]])
    check(r.returncode == 1, f"{e['id']}: exit {r.returncode}")
    try:
        got = json.loads(r.stdout)
        ok = set(got) == {"error"} and isinstance(got["error"], str) and got["error"]
    except ValueError:
        ok = False
    check(ok and r.stdout.count("\n") == 1, f"{e['id']}: output {r.stdout!r}")

# 3. mixed: order kept, exit 1
r = run(["inspect", machines[0]["string"], invalid[0]["string"], machines[2]["string"]])
out = [json.loads(l) for l in r.stdout.splitlines()]
check(r.returncode == 1 and len(out) == 3, "mixed: exit 1, three lines")
check(len(out) == 3 and eq_machine(out[0], machines[0]["machine"]) is None
      and "error" in out[1] and eq_machine(out[2], machines[2]["machine"]) is None,
      "mixed: order")

# 4. stdin mode
r = run(["inspect", "-"], stdin="".join(m["string"] + "\n" for m in machines))
outs = r.stdout.splitlines()
check(r.returncode == 0 and len(outs) == len(machines), f"stdin: exit {r.returncode}, {len(outs)} lines")
for m, line in zip(machines, outs):
    check(eq_machine(json.loads(line), m["machine"]) is None, f"stdin {m['id']}")
stdin_text = machines[0]["string"] + "\r\n" + invalid[4]["string"] + "\n" + machines[1]["string"]
r = run(["inspect", "-"], stdin=stdin_text)
outs = r.stdout.splitlines()
check(r.returncode == 1 and len(outs) == 3 and "error" in json.loads(outs[1])
      and eq_machine(json.loads(outs[2]), machines[1]["machine"]) is None,
      "stdin: CRLF, invalid line, last line without newline")
r = run(["inspect", machines[3]["string"], "-"], stdin=machines[0]["string"] + "\n")
outs = r.stdout.splitlines()
check(r.returncode == 0 and len(outs) == 2 and eq_machine(json.loads(outs[1]), machines[0]["machine"]) is None,
      "argument then stdin")

# an over-long stdin line (> DAITA_MAX_STRING_LEN = 4 MiB) is one error line, and reading
# goes on with the next line
r = run(["inspect", "-"], stdin="02" + "A" * (4 << 20) + "\n" + machines[0]["string"] + "\n")
outs = r.stdout.splitlines()
check(r.returncode == 1 and len(outs) == 2 and "longer than" in json.loads(outs[0]).get("error", "")
      and eq_machine(json.loads(outs[1]), machines[0]["machine"]) is None,
      f"stdin: over-long line: exit {r.returncode}, {len(outs)} lines")

# 5. usage
for args in ([], ["inspect"], ["frobnicate", "x"], ["inspect", "--bogus", machines[0]["string"]]):
    r = run(args)
    check(r.returncode == 2 and r.stdout == "" and r.stderr.strip() != "", f"usage {args}: exit {r.returncode}")
r = run(["--help"])
check(r.returncode == 0 and "inspect" in r.stdout, "--help")
r = run(["inspect", "--help"])
check(r.returncode == 0 and "inspect" in r.stdout, "inspect --help")

print(f"daita_inspect: {checks} checks, {fails} failures")
sys.exit(1 if fails else 0)
PY
