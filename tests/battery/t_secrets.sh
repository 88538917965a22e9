#!/usr/bin/env bash
# Secrets leave the daemon's memory when they die: scans /proc/PID/mem of a running daemon A
# (tests/battery/memscan.py, raw bytes and UAPI hex text) for
#   - the preshared key of peer B: present while B is configured (the scanner's positive
#     control), absent after `wg set A peer B remove`;
#   - A's old private key: present before, absent after `wg set A private-key NEW` (the new
#     key is found: positive control);
#   - the same for a second peer that carried traffic (its session keys die with it).
#   - the session secrets of a handshake with a legitimate test peer (battery_tool
#     sessionkeys: the public tunnel API as initiator, which recomputes the Noise chain from
#     its own ephemeral key): the daemon's transport send/receive keys are present while the
#     session lives (control; inside OpenSSL's cipher contexts), and the handshake's
#     temporaries (ee/se/es DH results, chaining keys, tau, the handshake AEAD keys) are
#     already gone once the handshake is done; after `wg set A peer T remove` every one of
#     them, the static-static DH included, is gone.
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
# session keys, with a test peer T driven from B's namespace
key_t=$(genkey) psk_t=$(wg genpsk)
pub_t=$(wg pubkey <<<"$key_t")
nsa wg set "$IF_A" peer "$pub_t" preshared-key <(echo "$psk_t") allowed-ips 10.240.0.99/32
pub_a_hex=$(hexkey "$(wg pubkey <<<"$new2")")
keys=$(nsb "$BUILD/battery_tool" sessionkeys "$(hexkey "$key_t")" "$pub_a_hex" "$(hexkey "$psk_t")" \
  "$IP_A" "$PORT_A" 10.240.0.99 "$TIP_A") || fail "test peer: handshake/ping failed"
transient=(dh_es dh_ee dh_se ck_e_i ck_es ck_ss ck_e_r ck_ee ck_se ck_psk tau k_static k_timestamp k_empty)
live=(daemon_send_key daemon_recv_key)
hex_of() { awk -v n="$1" '$1 == n {print $2}' <<<"$keys"; }
needles=()
for n in "${transient[@]}" "${live[@]}" dh_ss; do needles+=("$(hex_of "$n")"); done
sleep 0.3
alive_scan=$(scan "${needles[@]}")
for n in "${live[@]}"; do
  [ "$(count_of "$(hex_of "$n")" "$alive_scan")" -ge 1 ] ||
    fail "positive control: $n of the live session not found in A's memory ($alive_scan)"
done
for n in "${transient[@]}"; do
  [ "$(count_of "$(hex_of "$n")" "$alive_scan")" = 0 ] ||
    fail "handshake secret $n still in memory after the handshake: $alive_scan"
done
live_copies="send $(count_of "$(hex_of daemon_send_key)" "$alive_scan"), recv $(count_of "$(hex_of daemon_recv_key)" "$alive_scan"), dh_ss $(count_of "$(hex_of dh_ss)" "$alive_scan")"
nsa wg set "$IF_A" peer "$pub_t" remove
sleep 0.5
dead_scan=$(scan "${needles[@]}")
for n in "${transient[@]}" "${live[@]}" dh_ss; do
  [ "$(count_of "$(hex_of "$n")" "$dead_scan")" = 0 ] ||
    fail "session secret $n still in memory after the peer was removed: $dead_scan"
done
check_sanitizers
result "session keys copies while live: $live_copies -> 0 after peer remove;" \
  "${#transient[@]} handshake temporaries: 0 already after the handshake;" \
  "psk copies: $(count_of "$psk" "$before") while configured -> 0 after peer remove;" \
  "private key copies: $(count_of "$priv" "$before") -> 0 after key change (also after get/showconf);" \
  "$(tail -1 <<<"$after2") bytes scanned"
