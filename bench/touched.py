#!/usr/bin/env python3
"""touched.py MAPS SMAPS PAGES: per mapping (file + permissions), KiB resident (smaps Rss)
against KiB really touched (PAGES from bench/touched.c), and the totals (bench/touched.sh)."""
import bisect
import collections
import sys


def mapping_name(fields):
    """A file mapping by name and permissions; heap, stacks and anonymous memory as one
    (valgrind lays the guest's heap and stacks out as anonymous mappings of its own)."""
    if len(fields) <= 5 or fields[5] in ("[heap]", "[stack]") or fields[5].startswith("[anon"):
        return "anonymous (heap, stacks, buffers)"
    return fields[5].rsplit("/", 1)[-1] + " " + fields[1]


def main():
    maps_path, smaps_path, pages_path = sys.argv[1:4]
    maps = []
    for line in open(maps_path):
        f = line.split()
        lo, hi = (int(x, 16) for x in f[0].split("-"))
        maps.append((lo, hi, mapping_name(f)))
    maps.sort()
    starts = [m[0] for m in maps]
    touched = collections.Counter()
    for line in open(pages_path):
        a = int(line, 16) << 12
        i = bisect.bisect_right(starts, a) - 1
        touched[maps[i][2] if i >= 0 and a < maps[i][1] else "(unmapped now)"] += 4
    rss = collections.Counter()
    key = None
    for line in open(smaps_path):
        f = line.split()
        if "-" in f[0] and len(f) >= 5 and ":" not in f[0]:
            key = mapping_name(f)
        elif f[0] == "Rss:" and key:
            rss[key] += int(f[1])
    print("%8s %8s  %s" % ("Rss KiB", "touched", "mapping"))
    for k in sorted(set(rss) | set(touched), key=lambda k: -max(rss[k], touched[k])):
        if rss[k] or touched[k]:
            print("%8d %8d  %s" % (rss[k], touched[k], k))
    print("%8d %8d  total" % (sum(rss.values()), sum(touched.values())))


if __name__ == "__main__":
    main()
