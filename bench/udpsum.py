#!/usr/bin/env python3
"""Sum of several iperf3 UDP client results (one per parallel sender, -J output):

    udpsum.py TARGET_PPS FILE...   ->  "sent_pps delivered_pps loss_pct ok"

sent_pps: what the senders got out (sum of their packets / seconds); delivered_pps: received
minus lost, per receiver second; loss_pct: lost / sent as the receivers count it. ok is 1 when
loss < 1 % and the senders offered at least 90 % of TARGET_PPS (else the sender, not the
path, is the limit, and the rate does not count as reached). A file that is not valid
iperf3 JSON counts as a failed step. Standard library only.
"""
import json
import sys


def main(argv):
    target = float(argv[0])
    sent = delivered = lost = total = 0.0
    for path in argv[1:]:
        try:
            with open(path) as f:
                end = json.load(f)["end"]
            rx, tx = end["sum_received"], end["sum_sent"]
            sent += tx["packets"] / tx["seconds"]
            delivered += (rx["packets"] - rx["lost_packets"]) / rx["seconds"]
            lost += rx["lost_packets"]
            total += rx["packets"]
        except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
            print("0 0 100 0")
            return 0
    loss = 100.0 * lost / total if total else 100.0
    ok = int(loss < 1.0 and sent >= 0.9 * target)
    print("%.0f %.0f %.3f %d" % (sent, delivered, loss, ok))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
