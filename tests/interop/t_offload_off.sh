#!/usr/bin/env bash
# The 100 MiB integrity transfers (t_transfer_100mb) again with every offload off
# (WGTUN_NO_OFFLOAD=1: plain TUN without vnet header, no UDP GSO/GRO), so both data paths of
# wgtun stay correct against wireguard-go and itself. The default run has offloads on.
export WGTUN_NO_OFFLOAD=1
exec bash "$(dirname "$0")/t_transfer_100mb.sh" "$@"
