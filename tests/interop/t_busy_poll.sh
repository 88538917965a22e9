#!/usr/bin/env bash
# The basic pair scenario (t_pair_wgtun_wgtun: handshake, IPv4 and IPv6 inside and outside,
# endpoints, counters) with the data-path loop's busy poll on (WGTUN_BUSY_POLL_US=200,
# docs/latency.md), so the polling loop stays correct; the default runs have it off.
export WGTUN_BUSY_POLL_US=200
exec bash "$(dirname "$0")/t_pair_wgtun_wgtun.sh" "$@"
