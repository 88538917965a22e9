#!/usr/bin/env bash
# Static analysis of the library and the programs (src/, cli/): gcc -fanalyzer, clang-tidy
# (checks in .clang-tidy) and cppcheck. Fails on any finding. A false positive is suppressed
# at its line with a reason (NOLINT / cppcheck-suppress / #pragma GCC diagnostic); a whole
# check only in .clang-tidy or below, with its reason.
#   scripts/analyze.sh            all three
#   scripts/analyze.sh tidy       only one of: fanalyzer, tidy, cppcheck
#   scripts/analyze.sh build      (a directory) all three, as with no argument
# Env: JOBS (default 2). Build dirs: build-analyzer, build-tidy.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${JOBS:-2}
only=${1:-all}
fail=0
# A build directory given as the argument (`analyze.sh build`, as other scripts take one) means
# all three: the analyzers use their own build dirs. Anything else unknown is an error, not a
# silent "all clean" that analyzed nothing.
if [ "$only" != all ] && [ -d "$only" ]; then
  echo "analyze: $only is a directory; the analyzers use their own build dirs: running all"
  only=all
fi
case $only in
  all|fanalyzer|tidy|cppcheck) ;;
  *) echo "usage: analyze.sh [fanalyzer|tidy|cppcheck]" >&2; exit 2 ;;
esac

want() { [ "$only" = all ] || [ "$only" = "$1" ]; }

if want fanalyzer; then
  echo "== gcc -fanalyzer (library and cli/)"
  cmake -S . -B build-analyzer -DCMAKE_C_COMPILER=gcc -DWGTUN_ANALYZER=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  targets=(wgtun_obj)
  for f in cli/*.c; do targets+=("$(basename "$f" .c)"); done
  # Analyzer warnings are errors (-Werror); -k reports every file, not just the first.
  if ! cmake --build build-analyzer -j "$jobs" --target "${targets[@]}" -- -k \
       >build-analyzer/analyze.log 2>&1; then
    grep -E 'error:|warning:' build-analyzer/analyze.log | sort -u || tail -n 40 build-analyzer/analyze.log
    echo "fanalyzer: FINDINGS (full log: build-analyzer/analyze.log)"
    fail=1
  else
    echo "fanalyzer: clean"
  fi
fi

if want tidy; then
  echo "== clang-tidy ($(clang-tidy --version | grep -o 'version [0-9.]*'))"
  cmake -S . -B build-tidy -DCMAKE_C_COMPILER=clang >/dev/null # compile_commands.json
  run-clang-tidy -p build-tidy -j "$jobs" -quiet "$root/(src|cli)/" 2>&1 |
    sed 's/\x1b\[[0-9;]*m//g' >build-tidy/tidy.log || true
  if grep -E ': (warning|error):' build-tidy/tidy.log | sort -u | grep .; then
    echo "clang-tidy: FINDINGS (full log: build-tidy/tidy.log)"
    fail=1
  else
    echo "clang-tidy: clean"
  fi
fi

if want cppcheck; then
  echo "== cppcheck ($(cppcheck --version))"
  cmake -S . -B build-tidy -DCMAKE_C_COMPILER=clang >/dev/null
  # Suppressed checks (style level only; warnings, performance and portability all count):
  #  variableScope: the project declares locals at the top of a block on purpose.
  #  constParameter: a const-correctness nicety, not a bug (gcc/clang see the real misuse).
  #  missingIncludeSystem: cppcheck needs no system headers to analyse our code.
  if ! cppcheck --project=build-tidy/compile_commands.json -i tests -i bench \
       --enable=warning,style,performance,portability --std=c11 --inline-suppr -q \
       -j "$jobs" --error-exitcode=1 --suppress=variableScope --suppress=constParameter \
       --suppress=missingIncludeSystem \
       --template='{file}:{line}: {severity}: {message} [{id}]' 2>build-tidy/cppcheck.log; then
    cat build-tidy/cppcheck.log
    echo "cppcheck: FINDINGS"
    fail=1
  else
    echo "cppcheck: clean"
  fi
fi

[ "$fail" = 0 ] && echo "analyze: all clean"
exit "$fail"
