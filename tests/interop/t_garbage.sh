#!/usr/bin/env bash
# Hostile datagrams at wgtun's UDP port while a tunnel to wireguard-go carries traffic: random
# bytes of every length 0..1600, and well-typed WireGuard headers (types 1-4, exact and wrong
# lengths, known-looking receiver indices) with random bodies, from the peer's own address and
# port (a spoofer on the path) and from another port. wgtun must stay up, keep the session
# (no new handshake needed), keep its endpoint for the peer, and lose no ping.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"

wgi_pair wgtun wggo both
wgi_ping "$NS_A" "$T4_B"
hs0=$(wgi_handshake_time "$IF_A" "$PUB_B")
ip netns exec "$NS_A" ping -q -i 0.05 -W 2 -c 200 "$T4_B" >"$WGI_TMP/ping.out" 2>&1 &
pp=$!
WGI_PIDS+=("$pp")
# Half of the garbage comes from an ordinary socket (another port), half from a raw socket
# with wireguard-go's own source port (B's port is taken, so a raw socket spoofs it).
udp_in() { ip netns exec "$NS_A" awk '/^Udp: [0-9]/ { print $2 }' /proc/net/snmp; }
in0=$(udp_in)
ip netns exec "$NS_B" "$PY" - "$U4_A" "$PORT_A" "$U4_B" "$PORT_B" <<'PY' || wgi_fail "garbage sender failed"
import os, random, socket, struct, sys
dst, dport, src, sport = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rng = random.Random(7)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)  # spoof B's port

def send(payload, spoof):
    if spoof:
        hdr = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)  # checksum 0 = none (v4)
        raw.sendto(hdr + payload, (dst, 0))
    else:
        udp.sendto(payload, (dst, dport))

n = 0
for size in range(0, 1601, 3):
    send(os.urandom(size), n % 2 == 0); n += 1
lens = {1: 148, 2: 92, 3: 64, 4: 32}
for _ in range(3000):
    t = rng.randint(1, 4)
    ln = lens[t] + rng.choice([0, 0, 0, -1, 1, 16, rng.randint(0, 1400)])
    if t == 4 and rng.random() < 0.5:
        ln = 32 + 16 * rng.randint(0, 90)
    body = bytearray(os.urandom(max(ln, 4)))
    body[0:4] = struct.pack("<I", t)
    if rng.random() < 0.3:
        body[4:8] = struct.pack("<I", rng.randint(0, 16))  # small receiver indices
    send(bytes(body), n % 2 == 0); n += 1
print("sent", n, file=sys.stderr)
PY
wait "$pp" || true
in1=$(udp_in)
[ $((in1 - in0)) -ge 3500 ] || wgi_fail "only $((in1 - in0)) datagrams reached A's UDP layer"
got=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' "$WGI_TMP/ping.out")
[ "${got:-0}" -ge 195 ] || wgi_fail "pings answered during the garbage: ${got:-0}/200"
kill -0 "${WGI_PID_OF[$IF_A]}" || wgi_fail "wgtun died"
endpoint_is "$IF_A" "$PUB_B" "$U4_B:$PORT_B" || wgi_fail "endpoint moved to $(endpoint_of "$IF_A" "$PUB_B")"
[ "$(wgi_handshake_time "$IF_A" "$PUB_B")" = "$hs0" ] || wgi_fail "the garbage forced a new handshake"
wgi_ping "$NS_B" "$T6_A"
wgi_log "$got/200 pings answered while ~3500 hostile datagrams arrived; session and endpoint kept"
echo ok
