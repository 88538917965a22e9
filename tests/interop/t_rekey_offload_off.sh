#!/usr/bin/env bash
# t_rekey (time-based rekey of three tunnels under a steady ping) again with every offload off
# (WGTUN_NO_OFFLOAD=1, docs/offloads.md; lib.sh checks each wgtun really has no vnet header).
# A background test like t_rekey: its 120 s wait overlaps the rest of the suite.
# interop: background
export WGTUN_NO_OFFLOAD=1
exec bash "$(dirname "$0")/t_rekey.sh" "$@"
