#!/usr/bin/env bash
# UDP segmentation offload (USO) through real kernel TUNs, wgtun <-> wgtun in two namespaces
# (docs/offloads.md). The kernel is asked on its own (udpgso.py probe) whether a TUN takes
# USO; then, once with offloads on and once with WGTUN_NO_OFFLOAD=1:
#  - the daemons' "offloads:" log line says USO was granted exactly when the kernel can (on a
#    kernel without TUN USO the test says so and checks the fallback: TSO only, no USO use);
#  - apps send 64 KiB bursts with UDP_SEGMENT (equal segments, and sizes that leave a short
#    last one), IPv4 and IPv6 inside, both directions: the sending daemon gets them as UDP
#    super-packets and cuts them (tun_split_udp/_segs), the receiving daemon writes them
#    coalesced (tun_gro_udp/_segs);
#  - apps send many small datagrams one by one (equal sizes, and a flow of mixed sizes),
#    with the sending daemon stopped meanwhile (SIGSTOP) so it sends them as one batch, and
#    the receiving daemon coalesces them into USO writes;
#  - every datagram arrives once and byte-exact (sequence numbers, CRC, content, SHA-256 over
#    all), never merged with another at a plain socket; a receiver with UDP_GRO sees the
#    coalesced writes as multi-datagram reads; an AF_PACKET capture with a vnet header on
#    each TUN checks every coalesced packet's partial checksum and every other's full one,
#    and Udp/Udp6 InCsumErrors stay 0 in both namespaces;
#  - with WGTUN_NO_OFFLOAD=1 the same deliveries hold and nothing was cut or coalesced.
# With WGTUN_NO_OFFLOAD set from outside (an offloads-off run of the suite), only the pass
# without offloads runs.
WGI_PREFIX=us
. "$(dirname "$0")/lib.sh"
wgi_init "$1"
set +e
G="$(dirname "$0")/udpgso.py"
PORT=5301
outside_off=${WGTUN_NO_OFFLOAD:-0}
[ -z "$outside_off" ] && outside_off=0
# A sender killed between its SIGSTOP and SIGCONT (--hold) must not leave a daemon stopped.
wake_daemons() {
	local p
	for p in "${WGI_PID_OF[@]}"; do kill -CONT "$p" 2>/dev/null; done
	return 0
}
wgi_on_cleanup wake_daemons

sval() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }
# delta NAME: the counter NAME between the snapshots $S0 and $S1
delta() { echo $(($(sval "$S1" "$1") - $(sval "$S0" "$1"))); }
OFFL=(tun_split_tcp tun_split_udp tun_split_segs tun_gro_tcp tun_gro_udp tun_gro_segs)
show() { local k out=; for k in "${OFFL[@]}"; do out+=" $k+$(delta "$k")"; done; echo "$out"; }

# csum_errors NS: Udp InCsumErrors + Udp6InCsumErrors of the namespace
csum_errors() {
	ip netns exec "$1" awk '
		$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == "Udp:" { v += $col["InCsumErrors"] }
		$1 == "Udp6InCsumErrors" { v += $2 }
		END { print v + 0 }' /proc/net/snmp /proc/net/snmp6
}

# xfer SRC_NS DST_NS ADDR RECV_OPTS SEND_ARGS...: one receiver, one sender; checks count and
# content and sets GSO_BURSTS (bursts sent with UDP_SEGMENT) and NDG (datagrams).
xfer() {
	local src=$1 dst=$2 addr=$3 ropt=$4 rlog=$WGI_TMP/urecv.out slog=$WGI_TMP/usend.out rpid
	shift 4
	: >"$rlog"
	ip netns exec "$dst" "$PY" "$G" recv "$addr" "$PORT" $ropt >"$rlog" 2>&1 &
	rpid=$!
	WGI_PIDS+=("$rpid")
	wgi_wait_for 10 grep -q listening "$rlog" || wgi_fail "receiver did not start: $(cat "$rlog")"
	ip netns exec "$src" "$PY" "$G" send "$addr" "$PORT" "$@" >"$slog" 2>&1 ||
		wgi_fail "sender failed: $(cat "$slog")"
	wait "$rpid" || wgi_fail "receiver failed: $(cat "$rlog")"
	local s r
	s=$(tail -n 1 "$slog") r=$(tail -n 1 "$rlog")
	# sent N digest D gso G / got N digest D bad B dup U merged M
	set -- $s
	local n=$2 dg=$4
	GSO_BURSTS=$6 NDG=$n
	set -- $r
	MERGED=${10}
	if [ "$2" = "$n" ] && [ "$4" = "$dg" ] && [ "$6" = 0 ] && [ "$8" = 0 ] && [ "$n" -gt 0 ]; then
		wgi_ok "$XNAME: $n datagrams intact (sha256 ${dg:0:12}), gso bursts $GSO_BURSTS, multi-datagram reads $MERGED"
	else
		wgi_bad "$XNAME: sent '$s', received '$r'"
	fi
}

# run_pass on|off: one wgtun pair and every transfer.
run_pass() {
	local mode=$1 sfx=$2 want k
	if [ "$mode" = off ]; then export WGTUN_NO_OFFLOAD=1; else unset WGTUN_NO_OFFLOAD; fi
	wgi_log "pass: offloads $mode"
	wgi_pair wgtun wgtun both "$sfx"
	wgi_ping "$NS_A" "$T4_B"
	wgi_ping "$NS_B" "$T6_A"
	local uso=0
	[ "$mode" = on ] && [ "$KERNEL_USO" = yes ] && uso=1
	if [ "$mode" = on ]; then
		want="offloads: TUN vnet header on (csum 1, TSO 1, USO $uso)"
	else
		want="offloads: TUN vnet header off (csum 0, TSO 0, USO 0)"
	fi
	for k in "$IF_A" "$IF_B"; do
		wgi_check "$mode: $k logs '$want'" grep -qF "$want" "$(wgi_logfile "$k")"
	done

	local cap_a=$WGI_TMP/cap_a.$sfx cap_b=$WGI_TMP/cap_b.$sfx ca cb
	ip netns exec "$NS_A" "$PY" "$G" capture "$IF_A" "$PORT" >"$cap_a" 2>&1 &
	ca=$!; WGI_PIDS+=("$ca")
	ip netns exec "$NS_B" "$PY" "$G" capture "$IF_B" "$PORT" >"$cap_b" 2>&1 &
	cb=$!; WGI_PIDS+=("$cb")
	wgi_wait_for 10 grep -q capturing "$cap_a" || wgi_fail "capture A: $(cat "$cap_a")"
	wgi_wait_for 10 grep -q capturing "$cap_b" || wgi_fail "capture B: $(cat "$cap_b")"

	# -- GSO bursts: the kernel hands the sending daemon UDP super-packets (with USO).
	local sa sb dir src dst a4 a6 pa pb gso_n gso_dg
	for dir in ab ba; do
		if [ $dir = ab ]; then src=$NS_A dst=$NS_B a4=$T4_B a6=$T6_B pa=$IF_A pb=$IF_B
		else src=$NS_B dst=$NS_A a4=$T4_A a6=$T6_A pa=$IF_B pb=$IF_A; fi
		sa=$(wgi_stats "$pa") sb=$(wgi_stats "$pb")
		gso_n=0 gso_dg=0
		XNAME="$mode $dir IPv4 GSO bursts"
		# 46 x 1392 (fills 1420), 46 x 1392 + 968, 60 x 1000 + 500, 32 x 64 + 22
		xfer "$src" "$dst" "$a4" "" gso:1392:64032:8 gso:1392:65000:8 gso:1000:60500:4 gso:64:2070:4
		gso_n=$((gso_n + GSO_BURSTS)) gso_dg=$((gso_dg + NDG))
		XNAME="$mode $dir IPv6 GSO bursts"
		xfer "$src" "$dst" "$a6" "" gso:1372:63112:8 gso:1372:65000:8 gso:700:50001:4
		gso_n=$((gso_n + GSO_BURSTS)) gso_dg=$((gso_dg + NDG))
		S0=$sa S1=$(wgi_stats "$pa")
		local split_udp split_segs
		split_udp=$(delta tun_split_udp) split_segs=$(delta tun_split_segs)
		wgi_log "$mode $dir sender daemon:$(show)"
		wgi_check "$mode $dir: no TCP super-packets cut" [ "$(delta tun_split_tcp)" = 0 ]
		S0=$sb S1=$(wgi_stats "$pb")
		wgi_log "$mode $dir receiver daemon:$(show)"
		local gro_udp gro_segs
		gro_udp=$(delta tun_gro_udp) gro_segs=$(delta tun_gro_segs)
		if [ "$mode" = off ]; then
			wgi_check "off $dir: the apps' sends still used UDP_SEGMENT ($gso_n bursts)" [ "$gso_n" -gt 0 ]
		else
			wgi_check "on $dir: all $gso_n bursts went out with UDP_SEGMENT" [ "$gso_n" = 44 ]
		fi
		if [ "$uso" = 1 ]; then
			wgi_check "$dir: the sending daemon cut $gso_n UDP super-packets into $gso_dg" \
				eval "[ \"$split_udp\" = \"$gso_n\" ] && [ \"$split_segs\" = \"$gso_dg\" ]"
			wgi_check "$dir: the receiving daemon wrote coalesced UDP ($gro_udp writes, $gro_segs datagrams)" \
				eval "[ \"$gro_udp\" -gt 0 ] && [ \"$gro_segs\" -ge $((gso_dg / 4)) ]"
		else
			wgi_check "$mode $dir: no UDP super-packet cut (USO not granted)" [ "$split_udp" = 0 ]
			wgi_check "$mode $dir: no UDP written coalesced (USO not granted)" [ "$gro_udp" = 0 ]
		fi
	done

	# -- Small datagrams sent one by one while the sending daemon is stopped: it finds them
	# queued and sends them as one batch; the receiving daemon may coalesce them.
	local eq mixed
	eq=$(printf '100/%.0s' $(seq 1 63))100
	# Runs of equal size with a short last one, a longer one after a shorter (must start a
	# new super-packet), singles, the 20-byte minimum.
	mixed=300/300/300/120/300/300/500/500/500/64/64/1000/999/1000/1000/40/40/40/20/1392/1392
	for dir in ab ba; do
		if [ $dir = ab ]; then src=$NS_A dst=$NS_B a4=$T4_B a6=$T6_B pa=$IF_A pb=$IF_B
		else src=$NS_B dst=$NS_A a4=$T4_A a6=$T6_A pa=$IF_B pb=$IF_A; fi
		sb=$(wgi_stats "$pb")
		local hold=${WGI_PID_OF[$pa]} m6=$mixed
		m6=${m6//1392/1372}
		XNAME="$mode $dir IPv4 equal small datagrams"
		xfer "$src" "$dst" "$a4" "" "seq:$eq:4" --hold "$hold"
		XNAME="$mode $dir IPv6 mixed sizes"
		xfer "$src" "$dst" "$a6" "" "seq:$m6:4" --hold "$hold"
		XNAME="$mode $dir IPv6 equal small datagrams, UDP_GRO receiver"
		xfer "$src" "$dst" "$a6" --gro "seq:$eq:2" --hold "$hold"
		local merged6=$MERGED
		XNAME="$mode $dir IPv4 mixed sizes, UDP_GRO receiver"
		xfer "$src" "$dst" "$a4" --gro "seq:$mixed:3" --hold "$hold"
		local merged4=$MERGED
		S0=$sb S1=$(wgi_stats "$pb")
		wgi_log "$mode $dir receiver daemon:$(show)"
		gro_udp=$(delta tun_gro_udp) gro_segs=$(delta tun_gro_segs)
		if [ "$uso" = 1 ]; then
			wgi_check "$dir: small datagrams written coalesced ($gro_udp writes, $gro_segs datagrams)" \
				eval "[ \"$gro_udp\" -gt 0 ] && [ \"$gro_segs\" -ge 64 ]"
			wgi_check "$dir: a UDP_GRO app read coalesced datagrams (v6 $merged6, v4 $merged4 reads)" \
				eval "[ \"$merged6\" -gt 0 ] && [ \"$merged4\" -gt 0 ]"
		else
			wgi_check "$mode $dir: nothing written coalesced" eval "[ \"$gro_udp\" = 0 ] && [ \"$gro_segs\" = 0 ]"
			wgi_check "$mode $dir: a UDP_GRO app never read coalesced datagrams" \
				eval "[ \"$merged6\" = 0 ] && [ \"$merged4\" = 0 ]"
		fi
		wgi_check "$mode $dir: no TCP written coalesced" [ "$(delta tun_gro_tcp)" = 0 ]
	done

	kill -TERM "$ca" "$cb"
	wait "$ca"; wait "$cb"
	for k in a b; do
		local f=$WGI_TMP/cap_$k.$sfx line
		line=$(tail -n 1 "$f")
		# pkts P gso G segs S bad B
		set -- $line
		if [ "$uso" = 1 ]; then
			wgi_check "$mode: capture on $k's TUN: $line: coalesced packets seen, every checksum right" \
				eval "[ \"${4:-0}\" -gt 0 ] && [ \"${8:-1}\" = 0 ] && [ \"${2:-0}\" -gt 0 ]"
		else
			wgi_check "$mode: capture on $k's TUN: $line: nothing coalesced, every checksum right" \
				eval "[ \"${4:-1}\" = 0 ] && [ \"${8:-1}\" = 0 ] && [ \"${2:-0}\" -gt 0 ]"
		fi
	done
	wgi_check "$mode: Udp/Udp6 InCsumErrors 0 in A" [ "$(csum_errors "$NS_A")" = 0 ]
	wgi_check "$mode: Udp/Udp6 InCsumErrors 0 in B" [ "$(csum_errors "$NS_B")" = 0 ]
}

# The kernel's own answer, in a namespace of ours (the probe's TUN lives there and goes away
# with its fd).
wgi_ns probe
set -- $(ip netns exec "$WGI_NS" "$PY" "$G" probe)
KERNEL_USO=${2:-no}
if [ "$KERNEL_USO" = yes ]; then
	wgi_log "kernel $(uname -r): a TUN takes USO"
else
	echo "NOTE: kernel $(uname -r) refuses TUN USO (errno ${3:-?}): checking the fallback (TSO only, UDP cut by the kernel, nothing coalesced)"
fi
if [ "$outside_off" != 0 ]; then
	wgi_log "WGTUN_NO_OFFLOAD=$outside_off from outside: only the pass without offloads"
	run_pass off 1
else
	run_pass on 1
	run_pass off 2
fi
wgi_summary t_uso
