#!/usr/bin/env python3
"""Time from a configuration command to the first ICMP echo reply (run as root, inside a netns).

    probe.py DST_IPV4 [--timeout S] [--interval S] -- CMD [ARGS...]

Opens a raw ICMP socket first, then takes t0, runs CMD (e.g. `wg set IFACE peer ...`) and, once
it has returned, sends echo requests to DST every --interval seconds until the first matching
echo reply arrives. A raw socket in this process avoids the 1-3 ms fork+exec of a `ping` per
probe, so the figure is the tunnel's (handshake + one round trip), not the prober's.
Without CMD it measures the probe floor (first reply on an already working path).

Prints one line of JSON: {"total_ms", "cfg_ms", "net_ms", "probes"}; "total_ms" is null and the
exit code is 1 when no reply came within --timeout.
"""
import json
import os
import select
import socket
import struct
import subprocess
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def echo_request(ident, seq):
    payload = b"wgtun-bench-probe"
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    return struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload


def is_our_reply(packet, ident):
    # A raw IPv4 ICMP socket returns the IP header too; its length is in the IHL field.
    if len(packet) < 20:
        return False
    ihl = (packet[0] & 0x0F) * 4
    if len(packet) < ihl + 8:
        return False
    icmp_type, _, _, rid, _ = struct.unpack("!BBHHH", packet[ihl:ihl + 8])
    return icmp_type == 0 and rid == ident


def main(argv):
    cmd = []
    if "--" in argv:
        cut = argv.index("--")
        argv, cmd = argv[:cut], argv[cut + 1:]
    timeout, interval, dst = 10.0, 0.0005, None
    i = 0
    while i < len(argv):
        if argv[i] == "--timeout":
            timeout = float(argv[i + 1])
            i += 2
        elif argv[i] == "--interval":
            interval = float(argv[i + 1])
            i += 2
        else:
            dst = argv[i]
            i += 1
    if dst is None:
        print(__doc__, file=sys.stderr)
        return 2

    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setblocking(False)
    ident = os.getpid() & 0xFFFF
    t0 = time.monotonic()
    if cmd:
        rc = subprocess.call(cmd)
        if rc != 0:
            print(json.dumps({"total_ms": None, "error": "command failed rc=%d" % rc}))
            return 1
    t_cfg = time.monotonic()
    deadline = t_cfg + timeout
    seq, t_reply = 0, None
    while t_reply is None and time.monotonic() < deadline:
        seq = (seq + 1) & 0xFFFF
        try:
            sock.sendto(echo_request(ident, seq), (dst, 0))
        except OSError:
            # No route yet (interface still coming up): keep probing until the deadline.
            pass
        next_send = time.monotonic() + interval
        while t_reply is None:
            left = next_send - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                continue
            while True:
                try:
                    pkt = sock.recv(2048)
                except BlockingIOError:
                    break
                if is_our_reply(pkt, ident):
                    t_reply = time.monotonic()
                    break
    out = {"total_ms": None, "cfg_ms": round((t_cfg - t0) * 1e3, 3), "net_ms": None, "probes": seq}
    if t_reply is not None:
        out["total_ms"] = round((t_reply - t0) * 1e3, 3)
        out["net_ms"] = round((t_reply - t_cfg) * 1e3, 3)
    print(json.dumps(out))
    return 0 if t_reply is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
