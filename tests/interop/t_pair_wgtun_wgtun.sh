#!/usr/bin/env bash
# wgtun in namespace A, wgtun in B (mode both: see wgi_pair); see basic.inc.sh for what is checked.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/basic.inc.sh"
wgi_init "$1"
basic_scenario wgtun wgtun both
echo ok
