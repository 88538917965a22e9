#!/usr/bin/env bash
# Checks that the hardened build really produced hardened binaries (the flags in CMakeLists.txt can
# be silently dropped by a toolchain or a later edit): every executable in BUILD_DIR and
# libwgtun.so must be position independent, have full RELRO (GNU_RELRO + BIND_NOW), a
# non-executable stack, no text relocations, stack canaries (__stack_chk_fail) and FORTIFY
# (*_chk calls and no unfortified printf-family import); the library's objects must carry the
# CET (x86-64) / BTI+PAC (AArch64) property note. First the checker proves that it rejects a
# deliberately unhardened binary, so a broken checker cannot pass everything.
# Registered only for hardened builds (WGTUN_HARDEN=ON without sanitizers or fuzzing).
set -euo pipefail
build=${1:?build dir}
src=${2:?source dir}
: "$src"

fails=0
checks=0
fail() { fails=$((fails + 1)); echo "FAIL: $*" >&2; }

build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$build/CMakeCache.txt")
fortify=1
[ "$build_type" = Debug ] && fortify=0 # FORTIFY needs the optimizer; CMakeLists omits it in Debug

# Printf-family calls always become __*_chk under FORTIFY >= 2, so an unfortified import of one
# of these means the object was compiled without FORTIFY.
unfortified='^(printf|fprintf|sprintf|snprintf|vprintf|vfprintf|vsprintf|vsnprintf|dprintf)$'

# check_elf FILE KIND(exe|lib): prints one line per missing property, returns their count.
check_elf() {
  local f=$1 kind=$2 bad=0 hdr prog dyn syms
  hdr=$(readelf -hW "$f")
  prog=$(readelf -lW "$f")
  dyn=$(readelf -dW "$f")
  syms=$(readelf -W --dyn-syms "$f" | awk '$7 == "UND" {sub(/@.*/, "", $8); print $8}')
  if ! grep -q 'Type: *DYN' <<<"$hdr"; then echo "$f: not position independent (ELF type not DYN)"; bad=$((bad + 1)); fi
  if [ "$kind" = exe ] && ! grep -q 'FLAGS_1.*PIE' <<<"$dyn"; then echo "$f: executable without the PIE flag"; bad=$((bad + 1)); fi
  if ! grep -q 'GNU_RELRO' <<<"$prog"; then echo "$f: no GNU_RELRO segment"; bad=$((bad + 1)); fi
  if ! grep -Eq '\(FLAGS\).*BIND_NOW|FLAGS_1.*NOW' <<<"$dyn"; then echo "$f: no BIND_NOW (partial RELRO only)"; bad=$((bad + 1)); fi
  if ! grep -Eq 'GNU_STACK' <<<"$prog"; then
    echo "$f: no GNU_STACK header (stack executable by default)"; bad=$((bad + 1))
  elif grep -E 'GNU_STACK' <<<"$prog" | grep -Eq 'RWE *0x'; then
    echo "$f: executable stack"; bad=$((bad + 1))
  fi
  if grep -q 'TEXTREL' <<<"$dyn"; then echo "$f: text relocations"; bad=$((bad + 1)); fi
  if ! grep -qx '__stack_chk_fail' <<<"$syms"; then echo "$f: no stack protector (__stack_chk_fail not imported)"; bad=$((bad + 1)); fi
  if [ $fortify = 1 ]; then
    if ! grep -v '^__stack_chk_fail$' <<<"$syms" | grep -Eq '^__[a-z0-9_]+_chk$'; then
      echo "$f: no FORTIFY (__*_chk) calls"; bad=$((bad + 1))
    fi
    local plain
    plain=$(grep -E "$unfortified" <<<"$syms" | tr '\n' ' ' || true)
    if [ -n "$plain" ]; then echo "$f: unfortified imports: $plain"; bad=$((bad + 1)); fi
  fi
  return $bad
}

# check_cf_note OBJ MACHINE: the object was compiled with control-flow protection.
check_cf_note() {
  local o=$1 machine=$2 notes
  notes=$(readelf -nW "$o")
  case $machine in
    *X86-64*) grep -q 'x86 feature: IBT, SHSTK' <<<"$notes" || { echo "$o: no IBT/SHSTK note (-fcf-protection)"; return 1; } ;;
    *AArch64*) grep -q 'AArch64 feature: BTI, PAC' <<<"$notes" || { echo "$o: no BTI/PAC note (-mbranch-protection)"; return 1; } ;;
    *) echo "no control-flow protection check for machine '$machine'"; return 1 ;;
  esac
}

# 1. The checker rejects an unhardened binary, one property at a time.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/bad.c" <<'EOF'
#include <stdio.h>
#include <string.h>
int main(int argc, char **argv) {
    char buf[64];
    strcpy(buf, argc > 1 ? argv[1] : "x");
    printf("%s %d\n", buf, argc);
    return 0;
}
EOF
"$cc" -O2 -fno-stack-protector -U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=0 -fno-pie -no-pie \
  -Wl,-z,norelro -Wl,-z,lazy -Wl,-z,execstack -o "$tmp/bad" "$tmp/bad.c" 2>/dev/null
out=$(check_elf "$tmp/bad" exe || true)
for want in 'not position independent' 'without the PIE flag' 'no GNU_RELRO' 'no BIND_NOW' \
            'executable stack' 'no stack protector' 'no FORTIFY' 'unfortified imports: printf'; do
  checks=$((checks + 1))
  [ $fortify = 0 ] && case $want in *FORTIFY*|*unfortified*) continue ;; esac
  grep -q "$want" <<<"$out" || fail "checker missed '$want' on an unhardened binary"
done
"$cc" -O2 -fcf-protection=none -mbranch-protection=none -c -o "$tmp/bad.o" "$tmp/bad.c" 2>/dev/null ||
  "$cc" -O2 -fcf-protection=none -c -o "$tmp/bad.o" "$tmp/bad.c"
machine=$(readelf -hW "$build/libwgtun.so" | sed -n 's/^ *Machine: *//p')
checks=$((checks + 1))
if check_cf_note "$tmp/bad.o" "$machine" >/dev/null; then fail "checker missed an object without CET/BTI"; fi

# 2. The real binaries: libwgtun.so and every executable the build produced.
checks=$((checks + 1))
[ -f "$build/libwgtun.so" ] || fail "no $build/libwgtun.so"
nexe=0
for f in "$build"/*; do
  case ${f##*/} in lib*.so*) continue ;; esac # the library is checked below, as a library
  [ -f "$f" ] && [ -x "$f" ] && [ ! -L "$f" ] || continue
  [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ] || continue
  nexe=$((nexe + 1))
  checks=$((checks + 1))
  out=$(check_elf "$f" exe) || fail "$out"
done
checks=$((checks + 1))
[ $nexe -gt 0 ] || fail "no executables in $build"
checks=$((checks + 1))
out=$(check_elf "$build/libwgtun.so" lib) || fail "$out"

# 3. Control-flow protection note on every library object (the final link drops it when the
# distribution's crt files lack it, so the objects are where -fcf-protection shows).
nobj=0
while IFS= read -r -d '' o; do
  nobj=$((nobj + 1))
  checks=$((checks + 1))
  out=$(check_cf_note "$o" "$machine") || fail "$out"
done < <(find "$build/CMakeFiles/wgtun_obj.dir" -name '*.o' -print0)
checks=$((checks + 1))
[ $nobj -gt 0 ] || fail "no library objects under $build/CMakeFiles/wgtun_obj.dir"

# 4. Flags with no binary trace (stack-clash probes) or with one that code may not trigger:
# every compile command of the build carries them.
checks=$((checks + 1))
missing=$(python3 - "$build/compile_commands.json" "$fortify" <<'PY'
import json, sys
want = ["-fstack-protector-strong", "-fstack-clash-protection"]
if sys.argv[2] == "1":
    want += ["-U_FORTIFY_SOURCE", "-D_FORTIFY_SOURCE=3"]
for e in json.load(open(sys.argv[1])):
    cmd = e.get("command") or " ".join(e["arguments"])
    args = cmd.split()
    lost = [w for w in want if w not in args]
    if lost:
        print(e["file"], "lacks", " ".join(lost))
    elif sys.argv[2] == "1" and args.index("-U_FORTIFY_SOURCE") > args.index("-D_FORTIFY_SOURCE=3"):
        print(e["file"], "undefines _FORTIFY_SOURCE after defining it")
PY
)
[ -z "$missing" ] || fail "$missing"

echo "hardening: $nexe executables + libwgtun.so, $nobj objects, $checks checks, $fails failures" \
  "(build type ${build_type:-?}, FORTIFY checked: $fortify)"
[ $fails -eq 0 ]
