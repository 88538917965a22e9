#!/usr/bin/env python3
"""UDP datagrams with sequence numbers and checksums, for t_uso.sh (TUN UDP segmentation).

  udpgso.py probe
      open a throw-away TUN with a vnet header and ask for USO; prints "uso yes" or
      "uso no ERRNO" (the kernel's answer, independent of wgtun)
  udpgso.py recv ADDR PORT [--gro]
      receive until the sender's END; print one line "got N digest D bad B dup U merged M"
      (N distinct datagrams, D = SHA-256 over them in sequence order, B = malformed ones,
      U = duplicates, M = reads that held more than one datagram: only with --gro, the
      socket option that lets the kernel hand coalesced datagrams over as one read)
  udpgso.py send ADDR PORT SPEC... [--hold PID]
      SPEC gso:SIZE:BYTES:K  K bursts, each one sendmsg of BYTES with UDP_SEGMENT=SIZE (the
                             kernel cuts it into SIZE-byte datagrams, the last one shorter
                             when SIZE does not divide BYTES)
           seq:S1/S2/..:K    K bursts, each the datagrams of sizes S1, S2, ... one by one
      After each burst it waits for the receiver's count (stop and wait: nothing is lost to
      full buffers). --hold PID: SIGSTOP PID before a burst and SIGCONT after it, so that
      daemon finds the whole burst queued on its TUN and sends it as one batch. Prints
      "sent N digest D gso G" (G = bursts that really went out with UDP_SEGMENT; a socket
      the kernel refuses GSO on, EIO, sends the datagrams one by one instead).
  udpgso.py capture IFACE PORT
      an AF_PACKET socket (raw: a TUN has no link header) with a vnet header on IFACE (in the caller's namespace): every UDP
      packet to PORT the kernel received on it is checked; a coalesced one (gso_type UDP_L4)
      must carry NEEDS_CSUM, csum_start at the UDP header and the pseudo-header sum in its
      checksum field, and is cut by gso_size; a plain one must carry a full, correct
      checksum. On SIGTERM prints "pkts P gso G segs S bad B".

Every datagram: magic "USO1", run id, sequence number, length, CRC-32 of the body, then a
body derived from (run, seq), so the receiver checks each one on its own and in content.
"""
import hashlib
import os
import signal
import socket
import struct
import sys
import zlib

SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
HDR = struct.Struct("!4sIIHI")  # magic, run, seq, length, crc32(body)
MAGIC = b"USO1"
TIMEOUT_S = 60


def body(run, seq, n):
    return hashlib.shake_128(struct.pack("!II", run, seq)).digest(n)


def datagram(run, seq, n):
    b = body(run, seq, n - HDR.size)
    return HDR.pack(MAGIC, run, seq, n, zlib.crc32(b)) + b


def check(d):
    """Sequence number of a well-formed datagram, else None."""
    if len(d) < HDR.size:
        return None
    magic, run, seq, n, crc = HDR.unpack_from(d)
    if magic != MAGIC or n != len(d):
        return None
    b = d[HDR.size:]
    if zlib.crc32(b) != crc or b != body(run, seq, n - HDR.size):
        return None
    return seq


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def probe():
    import fcntl
    TUNSETIFF, TUNSETOFFLOAD = 0x400454CA, 0x400454D0
    IFF_TUN, IFF_NO_PI, IFF_VNET_HDR = 0x1, 0x1000, 0x4000
    CSUM, TSO4, TSO6, USO4, USO6 = 0x1, 0x2, 0x4, 0x20, 0x40
    fd = os.open("/dev/net/tun", os.O_RDWR)
    try:
        # An empty name: the kernel picks tunN; the TUN goes away with the fd.
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", b"", IFF_TUN | IFF_NO_PI | IFF_VNET_HDR))
        try:
            fcntl.ioctl(fd, TUNSETOFFLOAD, CSUM | TSO4 | TSO6 | USO4 | USO6)
            print("uso yes")
        except OSError as e:
            print("uso no", e.errno)
    finally:
        os.close(fd)


def recv(addr, port, gro):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    # Forced (root): the stop-and-wait bursts must never overflow it.
    s.setsockopt(socket.SOL_SOCKET, 33, 8 << 20)  # SO_RCVBUFFORCE
    if gro:
        s.setsockopt(SOL_UDP, UDP_GRO, 1)
    s.bind((addr, port))
    s.settimeout(TIMEOUT_S)
    print("listening", flush=True)
    got, bad, dup, merged = {}, 0, 0, 0
    end = False
    while not end:
        d, anc, _, src = s.recvmsg(65536, socket.CMSG_SPACE(4))
        size = len(d)
        for level, typ, val in anc:
            if level == SOL_UDP and typ == UDP_GRO:
                size = struct.unpack("i", val[:4])[0]
        if size < len(d):
            merged += 1
        # With --gro a control message of the same flow may be glued on as the short last
        # datagram (as it should): handle it where it is.
        asked = False
        for off in range(0, len(d), size):
            one = d[off:off + size]
            if one == b"ASK!":
                asked = True
            elif one == b"END!":
                end = True
            elif (seq := check(one)) is None:
                bad += 1
            elif seq in got:
                dup += 1
            else:
                got[seq] = one
        if asked:
            s.sendto(b"ACK!" + struct.pack("!I", len(got)), src)
    s.sendto(b"BYE!", src)
    h = hashlib.sha256()
    for k in sorted(got):
        h.update(got[k])
    print("got", len(got), "digest", h.hexdigest(), "bad", bad, "dup", dup, "merged", merged,
          flush=True)


def send(addr, port, specs, hold):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.connect((addr, port))
    s.settimeout(0.2)
    run = os.getpid()
    seq = 0
    h = hashlib.sha256()
    gso_ok = True
    gso_bursts = 0

    def wait_count(want):
        for _ in range(15):  # ~3 s: then go on, the receiver's count shows the loss
            try:
                d = s.recv(64)
                if d.startswith(b"ACK!") and struct.unpack("!I", d[4:8])[0] >= want:
                    return
                continue
            except socket.timeout:
                pass
            s.send(b"ASK!")
        # Keep going; the final counts tell.

    for spec in specs:
        kind, a, k = spec.split(":", 2)
        if kind == "gso":
            size, total, k = int(a), int(k.split(":")[0]), int(k.split(":")[1])
            sizes = [size] * (total // size) + ([total % size] if total % size else [])
        else:
            size, sizes, k = 0, [int(x) for x in a.split("/")], int(k)
        for _ in range(k):
            dgs = [datagram(run, seq + i, n) for i, n in enumerate(sizes)]
            seq += len(dgs)
            for d in dgs:
                h.update(d)
            if hold:
                os.kill(hold, signal.SIGSTOP)
            try:
                if size and gso_ok:
                    try:
                        s.sendmsg([b"".join(dgs)], [(SOL_UDP, UDP_SEGMENT, struct.pack("H", size))])
                        gso_bursts += 1
                        dgs = []
                    except OSError as e:
                        if e.errno != 5:  # EIO: no GSO on this route
                            raise
                        gso_ok = False
                for d in dgs:
                    s.send(d)
            finally:
                if hold:
                    os.kill(hold, signal.SIGCONT)
            s.send(b"ASK!")
            wait_count(seq)
    for _ in range(25):
        s.send(b"END!")
        try:
            if s.recv(64).startswith(b"BYE!"):
                break
        except socket.timeout:
            pass
    print("sent", seq, "digest", h.hexdigest(), "gso", gso_bursts, flush=True)


def fold(x):
    while x >> 16:
        x = (x & 0xFFFF) + (x >> 16)
    return x


def csum(b):
    if len(b) & 1:
        b += b"\0"
    return fold(sum(struct.unpack("!%dH" % (len(b) // 2), b)))


def capture(iface, port):
    ETH_P_ALL, SOL_PACKET, PACKET_VNET_HDR, PACKET_OUTGOING = 3, 263, 15, 4
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
    s.bind((iface, 0))
    st = {"pkts": 0, "gso": 0, "segs": 0, "bad": 0}

    def done(*_):
        print(" ".join("%s %d" % kv for kv in st.items()), flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, done)
    print("capturing", flush=True)
    while True:
        d, a = s.recvfrom(65536 + 10)
        if a[2] == PACKET_OUTGOING or len(d) < 10 + 28:
            continue
        flags, gso_type, _, gso_size, cstart, coff = struct.unpack_from("=BBHHHH", d)
        p = d[10:]
        v6 = p[0] >> 4 == 6
        l4 = 40 if v6 else (p[0] & 15) * 4
        if (p[6] if v6 else p[9]) != 17 or len(p) < l4 + 8:
            continue
        if struct.unpack_from("!H", p, l4 + 2)[0] != port:
            continue
        st["pkts"] += 1
        src_dst = p[8:40] if v6 else p[12:20]
        udp_len = len(p) - l4

        def pseudo(n):
            if v6:
                return csum(src_dst + struct.pack("!IxxxB", n, 17))
            return csum(src_dst + struct.pack("!xBH", 17, n))

        if gso_type & 0x7F:
            st["gso"] += 1
            ok = (gso_type & 0x7F) == 5 and flags & 1 and cstart == l4 and coff == 6 and \
                gso_size > 0 and struct.unpack_from("!H", p, l4 + 6)[0] == pseudo(udp_len) and \
                struct.unpack_from("!H", p, l4 + 4)[0] == udp_len
            st["segs"] += -(-(udp_len - 8) // gso_size) if gso_size else 0
            st["bad"] += not ok
        elif flags & 1:
            # Partial checksum without GSO: the field holds the pseudo-header sum.
            st["bad"] += struct.unpack_from("!H", p, l4 + 6)[0] != pseudo(udp_len)
        else:
            st["bad"] += fold(pseudo(udp_len) + csum(p[l4:])) != 0xFFFF


def main():
    a = sys.argv[1:]
    if a[0] == "probe":
        probe()
    elif a[0] == "recv":
        recv(a[1], int(a[2]), "--gro" in a)
    elif a[0] == "send":
        hold = 0
        if "--hold" in a:
            i = a.index("--hold")
            hold = int(a[i + 1])
            a = a[:i] + a[i + 2:]
        send(a[1], int(a[2]), a[3:], hold)
    elif a[0] == "capture":
        capture(a[1], int(a[2]))
    else:
        sys.exit("usage: see the docstring")


if __name__ == "__main__":
    main()
