#!/usr/bin/env bash
# The daemon's optional privilege drop (--user / WGTUN_USER, docs/hardening.md) against
# wireguard-go:
#  - foreground `wgtun -f --user nobody` in A: /proc/PID/status shows uid/gid nobody on all
#    four ids, only CAP_NET_ADMIN + CAP_NET_BIND_SERVICE (effective, permitted, bounding),
#    NoNewPrivs 1; its socket cleaner is uid 0 with no capability at all;
#  - everything `wg set` does still works: a listen port below 1024 (443, then 80), fwmark
#    (SO_MARK), a private-key change, peer removal and re-adding with a PSK; traffic flows
#    both ways with wireguard-go after each change;
#  - SIGTERM: exit 0, socket file removed, interface gone, cleaner gone;
#  - daemonized like wg-quick starts it (`WGTUN_USER=nobody wgtun IFACE`): deleting the
#    interface stops it and the socket file goes; SIGKILL of a dropped daemon: the cleaner
#    still removes the socket file;
#  - a bad --user: exit 1 and no socket file left.
. "$(dirname "$0")/lib.sh"
wgi_init "$1"

USER_NAME=nobody
id "$USER_NAME" >/dev/null 2>&1 || wgi_fail "no user $USER_NAME on this system"
UID_N=$(id -u "$USER_NAME") GID_N=$(id -g "$USER_NAME")
CAPS=0000000000001400 # bits 10 (NET_BIND_SERVICE) and 12 (NET_ADMIN)

status_field() { sed -n "s/^$2:\t//p" "/proc/$1/status" | sed 's/[[:space:]]*$//'; }
sock_gone() { [ ! -e "/var/run/wireguard/$1.sock" ]; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
# The cleaner of daemon PID: its child named wgtun-cleanup.
cleaner_of() {
	local c
	for c in $(pgrep -P "$1" 2>/dev/null); do
		if [ "$(status_field "$c" Name)" = wgtun-cleanup ]; then echo "$c"; fi
	done
	return 0
}

wgi_ns a; NS_A=$WGI_NS
wgi_ns b; NS_B=$WGI_NS
wgi_veth "$NS_A" "$NS_B" "$U4_A" "$U4_B"
IF_A=${WGI_TAG}a IF_B=${WGI_TAG}b
KEY_A=$(wgi_genkey) KEY_B=$(wgi_genkey)
PUB_A=$(wgi_pubkey "$KEY_A") PUB_B=$(wgi_pubkey "$KEY_B")

wgi_log "wgtun -f --user $USER_NAME in A, wireguard-go in B"
WGI_IFACES+=("$IF_A")
ip netns exec "$NS_A" env LOG_LEVEL=verbose "$WGTUN" -f --user "$USER_NAME" "$IF_A" \
	>>"$(wgi_logfile "$IF_A")" 2>&1 &
PID_A=$!
WGI_PIDS+=("$PID_A")
wgi_wait_for 20 wgi_sock_ready "$IF_A" || wgi_fail "wgtun $IF_A: UAPI socket did not appear"
wgi_start wggo "$NS_B" "$IF_B"

wgi_log "credentials of the daemon (pid $PID_A) and of its cleaner"
for f in Uid Gid; do
	want="$UID_N	$UID_N	$UID_N	$UID_N"
	[ "$f" = Gid ] && want="$GID_N	$GID_N	$GID_N	$GID_N"
	got=$(status_field "$PID_A" "$f")
	[ "$got" = "$want" ] || wgi_fail "$f of the daemon is '$got', want '$want'"
done
[ "$(status_field "$PID_A" Groups)" = "$GID_N" ] ||
	wgi_fail "supplementary groups '$(status_field "$PID_A" Groups)', want '$GID_N'"
for f in CapEff CapPrm CapBnd; do
	[ "$(status_field "$PID_A" "$f")" = "$CAPS" ] ||
		wgi_fail "$f of the daemon is $(status_field "$PID_A" "$f"), want $CAPS"
done
for f in CapInh CapAmb; do
	[ "$(status_field "$PID_A" "$f")" = 0000000000000000 ] || wgi_fail "$f of the daemon is not empty"
done
[ "$(status_field "$PID_A" NoNewPrivs)" = 1 ] || wgi_fail "NoNewPrivs is not set"
# every thread, not only the main one (capabilities are per thread)
for t in /proc/"$PID_A"/task/*; do
	grep -q "^CapEff:	$CAPS$" "$t/status" || wgi_fail "thread $t has other capabilities"
	grep -q "^Uid:	$UID_N	" "$t/status" || wgi_fail "thread $t has another uid"
done
[ "$(ls /proc/"$PID_A"/task | wc -l)" -ge 2 ] || wgi_fail "expected the library's threads"
CLEANER=$(cleaner_of "$PID_A")
[ -n "$CLEANER" ] || wgi_fail "no wgtun-cleanup child of $PID_A"
WGI_PIDS+=("$CLEANER")
[ "$(status_field "$CLEANER" Uid)" = "0	0	0	0" ] || wgi_fail "cleaner is not uid 0"
for f in CapEff CapPrm; do
	[ "$(status_field "$CLEANER" "$f")" = 0000000000000000 ] || wgi_fail "cleaner $f not empty"
done
[ "$(ls -l /proc/"$CLEANER"/fd | grep -c -- '->')" -eq 1 ] || wgi_fail "cleaner holds more than its pipe"

wgi_log "configure both sides: A on port 443 with fwmark 0x51"
wg set "$IF_A" private-key <(echo "$KEY_A") listen-port 443 fwmark 0x51 \
	peer "$PUB_B" allowed-ips "$T4_B/32" endpoint "$U4_B:51821"
wg set "$IF_B" private-key <(echo "$KEY_B") listen-port 51821 \
	peer "$PUB_A" allowed-ips "$T4_A/32" endpoint "$U4_A:443"
ip -n "$NS_A" addr add "$T4_A/24" dev "$IF_A" && ip -n "$NS_A" link set "$IF_A" up
ip -n "$NS_B" addr add "$T4_B/24" dev "$IF_B" && ip -n "$NS_B" link set "$IF_B" up
[ "$(wg show "$IF_A" listen-port)" = 443 ] || wgi_fail "listen-port 443 not taken"
[ "$(wg show "$IF_A" fwmark)" = 0x51 ] || wgi_fail "fwmark not set"
ip netns exec "$NS_A" ss -Huanp "sport = :443" | grep -q "pid=$PID_A," ||
	wgi_fail "the daemon does not own a socket on port 443"
wgi_ping "$NS_A" "$T4_B"
wgi_ping "$NS_B" "$T4_A"
wgi_wait_handshake "$IF_A" "$PUB_B" 10

wgi_log "rebind to port 80 and change the fwmark at run time"
wg set "$IF_A" listen-port 80 fwmark 0x52
[ "$(wg show "$IF_A" listen-port)" = 80 ] || wgi_fail "listen-port 80 not taken"
[ "$(wg show "$IF_A" fwmark)" = 0x52 ] || wgi_fail "fwmark change not applied"
ip netns exec "$NS_A" ss -Huanp "sport = :80" | grep -q "pid=$PID_A," ||
	wgi_fail "the daemon does not own a socket on port 80"
wg set "$IF_B" peer "$PUB_A" endpoint "$U4_A:80"
wgi_ping "$NS_B" "$T4_A"
wgi_ping "$NS_A" "$T4_B"

wgi_log "new private key on A, peer removed and re-added with a PSK"
KEY_A2=$(wgi_genkey) PUB_A2=$(wgi_pubkey "$KEY_A2") PSK=$(wg genpsk)
wg set "$IF_A" private-key <(echo "$KEY_A2") peer "$PUB_B" remove
wg set "$IF_A" peer "$PUB_B" allowed-ips "$T4_B/32" endpoint "$U4_B:51821" preshared-key <(echo "$PSK")
wg set "$IF_B" peer "$PUB_A" remove peer "$PUB_A2" allowed-ips "$T4_A/32" endpoint "$U4_A:80" \
	preshared-key <(echo "$PSK")
[ "$(wg show "$IF_A" public-key)" = "$PUB_A2" ] || wgi_fail "private key change not applied"
wgi_ping "$NS_A" "$T4_B"
wgi_ping "$NS_B" "$T4_A"
wgi_wait_handshake "$IF_B" "$PUB_A2" 10
kill -0 "$PID_A" 2>/dev/null || wgi_fail "daemon died"

wgi_log "SIGTERM: exit 0, socket file, interface and cleaner gone"
kill -TERM "$PID_A"
rc=0
wait "$PID_A" || rc=$?
[ "$rc" -eq 0 ] || wgi_fail "daemon exited $rc"
wgi_wait_for 5 sock_gone "$IF_A" || wgi_fail "socket file left behind"
wgi_wait_for 5 pid_gone "$CLEANER" || wgi_fail "cleaner still running"
ip -n "$NS_A" link show "$IF_A" >/dev/null 2>&1 && wgi_fail "interface left behind"
grep -q "running as uid $UID_N" "$(wgi_logfile "$IF_A")" || wgi_fail "no drop line in the log"

wgi_log "daemonized as wg-quick starts it, WGTUN_USER=$USER_NAME; stop by deleting the interface"
IF_C=${WGI_TAG}c
WGI_IFACES+=("$IF_C")
ip netns exec "$NS_A" env WGTUN_USER="$USER_NAME" "$WGTUN" "$IF_C" || wgi_fail "daemonized start failed"
wgi_sock_ready "$IF_C" || wgi_fail "no socket right after the parent returned"
PID_C=
for p in $(pgrep -xf "$WGTUN $IF_C" || true); do
	[ "$(status_field "$p" Name)" = wgtun ] && PID_C=$p
done
[ -n "$PID_C" ] || wgi_fail "daemon of $IF_C not found"
WGI_PIDS+=("$PID_C")
[ "$(status_field "$PID_C" CapEff)" = "$CAPS" ] || wgi_fail "daemonized: CapEff $(status_field "$PID_C" CapEff)"
CLEANER_C=$(cleaner_of "$PID_C")
[ -n "$CLEANER_C" ] || wgi_fail "no cleaner for $IF_C"
WGI_PIDS+=("$CLEANER_C")
wg set "$IF_C" private-key <(echo "$KEY_A") listen-port 53 fwmark 1 ||
	wgi_fail "wg set on the daemonized one"
ip -n "$NS_A" link del "$IF_C"
wgi_wait_for 5 pid_gone "$PID_C" || wgi_fail "daemon of $IF_C survived its interface"
wgi_wait_for 5 sock_gone "$IF_C" || wgi_fail "socket of $IF_C left behind"
wgi_wait_for 5 pid_gone "$CLEANER_C" || wgi_fail "cleaner of $IF_C still running"

wgi_log "SIGKILL: the cleaner still removes the socket file"
IF_D=${WGI_TAG}d
WGI_IFACES+=("$IF_D")
ip netns exec "$NS_A" "$WGTUN" -f --user "$USER_NAME" "$IF_D" >>"$(wgi_logfile "$IF_D")" 2>&1 &
PID_D=$!
WGI_PIDS+=("$PID_D")
wgi_wait_for 20 wgi_sock_ready "$IF_D" || wgi_fail "$IF_D: UAPI socket did not appear"
CLEANER_D=$(cleaner_of "$PID_D")
[ -n "$CLEANER_D" ] || wgi_fail "no cleaner for $IF_D"
WGI_PIDS+=("$CLEANER_D")
kill -KILL "$PID_D"
wait "$PID_D" 2>/dev/null || true
wgi_wait_for 5 sock_gone "$IF_D" || wgi_fail "socket of $IF_D left behind after SIGKILL"
wgi_wait_for 5 pid_gone "$CLEANER_D" || wgi_fail "cleaner of $IF_D still running"

wgi_log "bad users: exit 1, nothing left"
IF_E=${WGI_TAG}e
WGI_IFACES+=("$IF_E")
for u in wse-no-such-user root 0; do
	rc=0
	ip netns exec "$NS_A" "$WGTUN" -f --user "$u" "$IF_E" >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || wgi_fail "--user $u (foreground): exit $rc, want 1"
	rc=0
	ip netns exec "$NS_A" "$WGTUN" --user "$u" "$IF_E" >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 1 ] || wgi_fail "--user $u (daemonized): exit $rc, want 1"
	sock_gone "$IF_E" || wgi_fail "--user $u left a socket file"
done
rc=0
"$WGTUN" --user "" "$IF_E" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || wgi_fail "--user '' is a usage error (exit 2), got $rc"
echo ok
