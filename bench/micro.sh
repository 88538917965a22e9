#!/usr/bin/env bash
# Micro-benchmarks of the protocol core, one core each: full handshakes/s, data-path AEAD at
# 1420-byte packets (ours vs OpenSSL called directly), X25519 and BLAKE2s costs.
# Builds a Release tree in build-release/ (shared with bench/run.sh) and prints the figures.
# Usage: bash bench/micro.sh [seconds per figure, default 0.5]   (no root needed)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-0.5}
cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release -j 2 --target bench_handshake bench_responder bench_crypto bench_openssl >/dev/null
echo "== $(date -u +%FT%TZ), $(nproc) cpus, load $(cut -d' ' -f1-3 /proc/loadavg)"
grep -m1 'model name' /proc/cpuinfo || true
echo "== build-release/bench_handshake $(awk "BEGIN{print $secs*6}")"
build-release/bench_handshake "$(awk "BEGIN{print $secs*6}")"
echo "== build-release/bench_responder 2000"
build-release/bench_responder 2000
echo "== build-release/bench_crypto $secs"
build-release/bench_crypto "$secs"
echo "== build-release/bench_openssl $secs"
build-release/bench_openssl "$secs"
echo "== openssl speed -seconds 2 -bytes 1420 -evp chacha20-poly1305 (stream only, CPU time)"
openssl speed -seconds 2 -bytes 1420 -evp chacha20-poly1305 2>/dev/null | tail -n 1
