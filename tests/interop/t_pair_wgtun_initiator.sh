#!/usr/bin/env bash
# wgtun in namespace A, wggo in B (mode a_init: see wgi_pair), with a preshared key; see
# basic.inc.sh for what is checked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"
WGI_PSK=$(wg genpsk) basic_scenario wgtun wggo a_init
echo ok
