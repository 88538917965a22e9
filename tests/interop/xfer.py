#!/usr/bin/env python3
"""TCP bulk transfer with a SHA-256 over the bytes, for the interop tests.

  xfer.py recv ADDR PORT          accept one connection, read to EOF, print "BYTES SHA256"
  xfer.py send ADDR PORT MBYTES   send MBYTES MiB of seeded pseudo-random data, print "BYTES SHA256"

Both sides hash what they actually sent / received, so matching lines prove integrity.
"""
import hashlib
import random
import socket
import sys

TIMEOUT_S = 120


def main():
    mode, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    h = hashlib.sha256()
    n = 0
    if mode == "recv":
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((addr, port))
        ls.listen(1)
        ls.settimeout(TIMEOUT_S)
        print("listening", flush=True)
        c, _ = ls.accept()
        c.settimeout(TIMEOUT_S)
        while True:
            d = c.recv(1 << 20)
            if not d:
                break
            h.update(d)
            n += len(d)
        c.close()
    else:
        mib = int(sys.argv[4])
        rng = random.Random(20220316)
        s = socket.create_connection((addr, port), timeout=TIMEOUT_S)
        for _ in range(mib):
            chunk = rng.randbytes(1 << 20)
            s.sendall(chunk)
            h.update(chunk)
            n += len(chunk)
        s.shutdown(socket.SHUT_WR)
        s.recv(1)  # wait for the receiver's close: everything was read
        s.close()
    print(n, h.hexdigest(), flush=True)


if __name__ == "__main__":
    main()
