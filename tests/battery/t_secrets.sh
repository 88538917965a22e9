#!/usr/bin/env bash
# Secrets leave the daemon's memory when they die: scans /proc/PID/mem of a running daemon A
# (tests/battery/memscan.py, raw bytes and UAPI hex text) for
#   - the preshared key of peer B: present while B is configured (the scanner's positive
#     control), absent after `wg set A peer B remove`;
#   - A's old private key: present before, absent after `wg set A private-key NEW` (the new
#     key is found: positive control);
#   - the same for a second peer that carried traffic (its session keys die with it).
# Session keys themselves are not known outside the process, so they are not scanned for.
BAT_NAME=secrets
source "$(dirname "$0")/lib.sh"
scan() { python3 "$(dirname "$0")/memscan.py" "$PID_A" "$@"; }
count_of() { awk -v h="$1" '$1 == h {print $2}' <<<"$2"; }

bat_topology 1
bat_pair
psk=$(hexkey "$PSK") priv=$(hexkey "$KEY_A")
nsb ping -c 20 -i 0.05 "$TIP_A" >/dev/null
before=$(scan "$psk" "$priv")
[ "$(count_of "$psk" "$before")" -ge 1 ] || fail "positive control: PSK not found in A's memory ($before)"
[ "$(count_of "$priv" "$before")" -ge 1 ] || fail "positive control: private key not found ($before)"

nsa wg set "$IF_A" peer "$PUB_B" remove
sleep 0.5
after=$(scan "$psk")
[ "$(count_of "$psk" "$after")" = 0 ] || fail "PSK still in memory after the peer was removed: $after"

new=$(genkey)
nsa wg set "$IF_A" private-key <(echo "$new")
sleep 0.5
newhex=$(hexkey "$new")
after2=$(scan "$priv" "$newhex")
[ "$(count_of "$newhex" "$after2")" -ge 1 ] || fail "positive control: new private key not found ($after2)"
[ "$(count_of "$priv" "$after2")" = 0 ] || fail "old private key still in memory after the key change: $after2"
# a `wg show` (get) copies keys into reply buffers: they must be wiped too
nsa wg show "$IF_A" private-key >/dev/null
nsa wg showconf "$IF_A" >/dev/null
sleep 0.3
new2=$(genkey)
nsa wg set "$IF_A" private-key <(echo "$new2")
sleep 0.3
after3=$(scan "$newhex")
[ "$(count_of "$newhex" "$after3")" = 0 ] || fail "private key left in memory by get + key change: $after3"
check_sanitizers
result "psk copies: $(count_of "$psk" "$before") while configured -> 0 after peer remove;" \
  "private key copies: $(count_of "$priv" "$before") -> 0 after key change (also after get/showconf);" \
  "$(tail -1 <<<"$after2") bytes scanned"
