#!/usr/bin/env python3
"""memscan.py PID HEX...: counts where each needle (given in hex) occurs in the readable memory
of PID (/proc/PID/maps + /proc/PID/mem). Prints one "HEX COUNT" line per needle. Needles are
searched as raw bytes and, for 32-byte keys, also as their lowercase-hex text (the UAPI form)."""
import sys

def main():
    pid = int(sys.argv[1])
    needles = [bytes.fromhex(h) for h in sys.argv[2:]]
    forms = {n: [n] + ([n.hex().encode()] if len(n) == 32 else []) for n in needles}
    counts = {n: 0 for n in needles}
    scanned = 0
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            parts = line.split()
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if "r" not in parts[1] or (len(parts) > 5 and parts[5] in ("[vvar]", "[vsyscall]")):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            scanned += len(data)
            for n in needles:
                for f in forms[n]:
                    counts[n] += data.count(f)
    for n in needles:
        print(n.hex(), counts[n])
    print("scanned", scanned)

main()
