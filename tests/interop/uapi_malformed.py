#!/usr/bin/env python3
"""Malformed UAPI requests, sent to wgtun and to wireguard-go over their sockets.

  uapi_malformed.py WGTUN_IFACE WGGO_IFACE PEER_PUBKEY_HEX

Both devices carry the same configuration (one peer PEER_PUBKEY_HEX). For every case the
errno must be the expected one from both; wgtun's `get=1` must be byte-identical before and
after (a failed set changes nothing, even when earlier lines were valid: wireguard-go applies
those, so its get is only checked for cases that fail on the first line). Exit 0 = all good.
"""
import socket
import sys

TUN, GO, PEER = sys.argv[1], sys.argv[2], sys.argv[3]
OTHER = "ab" * 32
EINVAL, EPROTO = -22, -71


def talk(iface, data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect("/var/run/wireguard/%s.sock" % iface)
    s.sendall(data)
    out = b""
    while not out.endswith(b"\n\n"):
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    return out.decode()


def errno_of(reply):
    if reply == "":
        return None  # closed without a reply
    lines = reply.split("\n")
    if len(lines) < 3 or lines[-1] != "" or lines[-2] != "" or not lines[-3].startswith("errno="):
        raise AssertionError("bad framing: %r" % reply)
    return int(lines[-3][6:])


def get(iface):
    r = talk(iface, b"get=1\n\n")
    if errno_of(r) != 0:
        raise AssertionError("get failed on %s: %r" % (iface, r))
    return r


# (name, request body after "set=1\n" unless it starts with "!", expected errno,
#  does it fail on its first line (so wireguard-go leaves its config alone too))
CASES = [
    ("unknown device key", "bogus_key=1\n", EINVAL, True),
    ("private_key not hex", "private_key=" + "zz" * 32 + "\n", EINVAL, True),
    ("private_key too short", "private_key=abcd\n", EINVAL, True),
    ("listen_port out of range", "listen_port=70000\n", EINVAL, True),
    ("listen_port not a number", "listen_port=12ab\n", EINVAL, True),
    ("listen_port empty", "listen_port=\n", EINVAL, True),
    ("fwmark not a number", "fwmark=mark\n", EINVAL, True),
    ("replace_peers=false", "replace_peers=false\n", EINVAL, True),
    ("public_key too short", "public_key=abcd\n", EINVAL, True),
    ("line without =", "garbage\n", EPROTO, True),
    ("empty key", "=5\n", EINVAL, True),
    ("listen_port with spaces", "listen_port = 5\n", EINVAL, True),
    ("listen_port trailing space", "listen_port=5 \n", EINVAL, True),
    ("listen_port with sign", "listen_port=+5\n", EINVAL, True),
    ("fwmark hex", "fwmark=0x10\n", EINVAL, True),
    ("fwmark 2^32", "fwmark=4294967296\n", EINVAL, True),
    ("endpoint port 65536", "public_key=%s\nendpoint=1.2.3.4:65536\n" % PEER, EINVAL, False),
    ("endpoint v4 in brackets", "public_key=%s\nendpoint=[1.2.3.4]:5\n" % PEER, EINVAL, False),
    ("endpoint v6 without brackets", "public_key=%s\nendpoint=::1:5\n" % PEER, EINVAL, False),
    ("allowed_ip leading zero", "public_key=%s\nallowed_ip=010.0.0.1/8\n" % PEER, EINVAL, False),
    ("allowed_ip negative cidr", "public_key=%s\nallowed_ip=10.0.0.1/-1\n" % PEER, EINVAL, False),
    ("keepalive negative", "public_key=%s\npersistent_keepalive_interval=-1\n" % PEER, EINVAL, False),
    ("update_only=false", "public_key=%s\nupdate_only=false\n" % PEER, EINVAL, False),
    ("replace_allowed_ips=false", "public_key=%s\nreplace_allowed_ips=false\n" % PEER, EINVAL, False),
    ("protocol_version 01", "public_key=%s\nprotocol_version=01\n" % PEER, EINVAL, False),
    ("endpoint not numeric", "public_key=%s\nendpoint=not-an-address\n" % PEER, EINVAL, False),
    ("endpoint without port", "public_key=%s\nendpoint=10.1.1.1\n" % PEER, EINVAL, False),
    ("allowed_ip cidr 33", "public_key=%s\nallowed_ip=10.0.0.0/33\n" % PEER, EINVAL, False),
    ("allowed_ip without cidr", "public_key=%s\nallowed_ip=10.0.0.1\n" % PEER, EINVAL, False),
    ("allowed_ip v6 cidr 129", "public_key=%s\nallowed_ip=fd00::/129\n" % PEER, EINVAL, False),
    ("keepalive out of range", "public_key=%s\npersistent_keepalive_interval=70000\n" % PEER, EINVAL, False),
    ("protocol_version 2", "public_key=%s\nprotocol_version=2\n" % PEER, EINVAL, False),
    ("remove=maybe", "public_key=%s\nremove=maybe\n" % PEER, EINVAL, False),
    ("preshared_key bad hex", "public_key=%s\npreshared_key=%s\n" % (PEER, "g" * 64), EINVAL, False),
    ("device key in peer section", "public_key=%s\nlisten_port=1\n" % PEER, EINVAL, False),
    ("valid lines, then a bad one",
     "listen_port=1234\nfwmark=7\npublic_key=%s\nreplace_allowed_ips=true\nallowed_ip=10.9.0.0/16\n"
     "endpoint=10.1.1.9:9\npublic_key=%s\nallowed_ip=1.2.3.4/99\n" % (PEER, OTHER), EINVAL, False),
    ("replace_peers then a bad line", "replace_peers=true\nlisten_port=x\n", EINVAL, False),
    # wireguard-go answers an unknown operation by closing the connection without a reply.
    ("unknown operation", "!frob=1\n\n", None, True),
    ("empty request", "!\n\n", None, True),
    ("get with a trailing line", "!get=1\nlisten_port=1\n\n", EINVAL, True),
]


def main():
    before_tun, before_go = get(TUN), get(GO)
    bad = []
    # Cases failing on their first line first: wireguard-go keeps the valid lines of the others.
    for name, body, want, first_line in sorted(CASES, key=lambda c: not c[3]):
        req = (body[1:] if body.startswith("!") else "set=1\n" + body + "\n").encode()
        got_tun = errno_of(talk(TUN, req))
        got_go = errno_of(talk(GO, req))
        after_tun = get(TUN)
        line = "%-32s wgtun %5s  wireguard-go %5s  want %5s" % (name, got_tun, got_go, want)
        problems = []
        if got_tun != want:
            problems.append("wgtun errno")
        if got_go != want:
            problems.append("wireguard-go errno (the expectation is wrong)")
        if after_tun != before_tun:
            problems.append("wgtun config changed:\n%s\n---\n%s" % (before_tun, after_tun))
        if first_line and get(GO) != before_go:
            problems.append("wireguard-go config changed")
        print(line + ("  <- " + "; ".join(problems) if problems else ""))
        if problems:
            bad.append(name)
    # The device still takes a good set and reports it.
    if errno_of(talk(TUN, b"set=1\nlisten_port=51998\n\n")) != 0 or "listen_port=51998\n" not in get(TUN):
        bad.append("valid set after the malformed ones")
    if bad:
        print("FAILED: " + ", ".join(bad))
        return 1
    print("all %d malformed requests refused with the expected errno; wgtun unchanged" % len(CASES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
