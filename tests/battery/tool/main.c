/* battery_tool: the traffic generators of the fault battery (tests/battery/run.sh).
 *
 *   battery_tool capture IFNAME PORT COUNT FILE SECONDS
 *       saves up to COUNT UDP payloads sent to PORT seen on IFNAME (AF_PACKET) to FILE
 *   battery_tool garbage DST_IP PORT COUNT PPS SRC_BASE NSRC CAPFILE
 *       sends COUNT hostile datagrams (random, truncated, wrong type, wrong length, replayed
 *       and bit-flipped captured packets, valid headers with bad MACs) from NSRC source
 *       addresses SRC_BASE, SRC_BASE+1, ... (they must be assigned locally)
 *   battery_tool flood DST_IP PORT PUBHEX SECONDS SRC_BASE NSRC
 *       sends handshake initiations with a valid mac1 for PUBHEX as fast as it can, and
 *       counts the cookie replies that come back
 *   battery_tool churn SOCKET SECONDS RATE LEGIT_PUBHEX PRIVHEX ENDPOINT PORT
 *       random UAPI `set` operations on the daemon behind SOCKET at RATE per second for
 *       SECONDS: peers added/removed (in 10.241.0.0/16 and fd41::/16), allowed IPs replaced,
 *       preshared keys and endpoints changed, `get`s, malformed requests (must fail and change
 *       nothing), the legitimate peer's endpoint bent (it must roam back), our private key and
 *       port flipped and restored; plus a datagram into the tunnel per operation (so churn
 *       peers start handshakes). Ends by removing every churn peer and restoring our key,
 *       our listen PORT and the legitimate peer's ENDPOINT.
 *   battery_tool sink IP PORT SECONDS      accepts one TCP stream, prints bytes and SHA-256
 *   battery_tool source IP PORT BYTES      sends BYTES deterministic bytes, prints SHA-256
 *   battery_tool sessionkeys PRIVHEX PEERPUBHEX PSKHEX DST_IP PORT INNER_SRC INNER_DST
 *       a legitimate peer (public tunnel API): handshake with the daemon, one ping through
 *       it, then prints "name hex" lines for the session secrets the daemon holds (see the
 *       comment at the top of sessionkeys.c)
 *
 * Each prints one "key=value ..." result line on stdout. IPv4 only (the battery's topology).
 * One file per subcommand; tool.h and util.c are what they share. */
#include "tool.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int nargs;
		int (*fn)(char **);
	} cmds[] = {
		{"capture", 5, cmd_capture}, {"garbage", 7, cmd_garbage}, {"flood", 6, cmd_flood},
		{"sink", 3, cmd_sink},       {"source", 3, cmd_source},   {"churn", 7, cmd_churn},
		{"sessionkeys", 7, cmd_sessionkeys},
	};
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; argc >= 2 && i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (!strcmp(argv[1], cmds[i].name) && argc == cmds[i].nargs + 2)
			return cmds[i].fn(argv + 2);
	fprintf(stderr, "usage: see the comment at the top of tests/battery/tool/main.c\n");
	return 2;
}
