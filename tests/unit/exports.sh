#!/usr/bin/env bash
# The shared library exports exactly the public API: every defined dynamic symbol is a
# wgtun_* name, and every WGTUN_API function declared in include/wgtun.h is exported.
# Usage: exports.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
lib=$(ls "$build"/libwgtun.so.* 2>/dev/null | head -n 1 || true)
[ -n "$lib" ] || { echo "exports: no libwgtun.so.* in $build" >&2; exit 1; }
syms=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sed 's/@.*//' | sort -u)
[ -n "$syms" ] || { echo "exports: no symbols read from $lib" >&2; exit 1; }
bad=$(grep -v '^wgtun_' <<<"$syms" | grep -v -E '^(_init|_fini)$' || true)
if [ -n "$bad" ]; then
  echo "exports: non-public symbols leak from $lib:" >&2
  echo "$bad" >&2
  exit 1
fi
# Declarations may span lines: join the header, then take the name before each '('.
declared=$(grep -v "^#" "$src/include/wgtun.h" | tr "\n" " " | grep -o 'WGTUN_API [^;(]*(' |
  sed -E 's/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)\($/\1/' | sort -u)
[ "$(wc -l <<<"$declared")" -ge 20 ] || { echo "exports: header parse found too few names" >&2; exit 1; }
missing=$(comm -23 <(echo "$declared") <(echo "$syms"))
if [ -n "$missing" ]; then
  echo "exports: declared in wgtun.h but not exported:" >&2
  echo "$missing" >&2
  exit 1
fi
echo "exports: $(wc -l <<<"$syms") symbols, all wgtun_*; $(wc -l <<<"$declared") declared, all exported"
