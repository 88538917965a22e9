#!/usr/bin/env bash
# Installs the Debian 12 packages wgtun needs to build, test and demo (as root).
# Only runs apt when something is missing, so a second run is fast.
set -euo pipefail
# valgrind: memcheck, and its header valgrind/memcheck.h for the constant-time check
# (tests/unit/test_consttime.c, src/crypto/crypto_util.c).
# nftables: wg-quick needs nft (or iptables-restore) for full-tunnel configs (tests/interop/t_wgquick.sh).
pkgs=(build-essential cmake pkg-config libssl-dev zlib1g-dev clang libclang-rt-14-dev llvm
      python3 iproute2 iputils-ping iperf3 wireguard-go wireguard-tools procps psmisc
      valgrind cppcheck clang-tidy nftables)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "deps: missing packages (${missing[*]}); run as root to install them" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends: wireguard-tools would otherwise pull in a kernel image.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
fi
