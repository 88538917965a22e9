#!/usr/bin/env bash
# wggo in namespace A, wgtun in B (mode a_init: see wgi_pair), with a preshared key; see
# basic.inc.sh for what is checked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"
WGI_PSK=$(wg genpsk) basic_scenario wggo wgtun a_init
echo ok
