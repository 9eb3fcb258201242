#!/usr/bin/env bash
# Long fuzzing runs with clang's libFuzzer, under AddressSanitizer and
# UndefinedBehaviorSanitizer (docs/architecture.md, "Tests"):
#
#   scripts/fuzz.sh                  # every target, 60 s each
#   scripts/fuzz.sh pml_schema 600   # one target for 10 minutes
#   scripts/fuzz.sh list             # the targets
#
# Builds build-fuzz/ with clang-14 (Debian: clang-14, libclang-rt-14-dev) and
# starts from tests/fuzz/corpus/<target>/, which it only reads; what libFuzzer
# finds goes to build-fuzz/corpus/<target>/, crashes (and timeouts, leaks,
# inputs past the memory limits) to build-fuzz/crashes/<target>/. A crash
# found is a bug: copy the input into tests/fuzz/regressions/<target>/ with
# its fix, and ctest runs it from then on. PCACHE_FUZZ_JOBS (2) builds in
# parallel; extra arguments after the seconds go to libFuzzer.
set -euo pipefail
cd "$(dirname "$0")/.."

# Every tests/fuzz/<target>_fuzz.cc is a target: a new one needs no line here.
targets=()
for f in tests/fuzz/*_fuzz.cc; do t=${f##*/}; targets+=("${t%_fuzz.cc}"); done
want=${1:-all}
seconds=${2:-60}
shift $(( $# < 2 ? $# : 2 ))
if [ "$want" = list ]; then printf '%s\n' "${targets[@]}"; exit 0; fi
if [ "$want" != all ]; then
  if [[ ! " ${targets[*]} " =~ " $want " ]]; then
    echo "fuzz.sh: no target '$want'; one of: ${targets[*]}" >&2
    exit 2
  fi
  targets=("$want")
fi

if [ ! -f build-fuzz/build.ninja ]; then
  cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DPCACHE_LIBFUZZER=ON \
    -DPCACHE_SANITIZE=address,undefined,fuzzer-no-link
fi
cmake --build build-fuzz -j "${PCACHE_FUZZ_JOBS:-2}" --target "${targets[@]/%/_fuzz}"

supp=$PWD/tests/sanitizer
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:max_allocation_size_mb=4096:allocator_may_return_null=0
export LSAN_OPTIONS=suppressions=$supp/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  echo "== $t: $seconds s"
  # -rss_limit_mb / -malloc_limit_mb: an input that makes pcache allocate what
  # it claims is reported, not left to swap the machine.
  build-fuzz/tests/fuzz/"${t}"_fuzz -max_total_time="$seconds" -timeout=20 \
    -rss_limit_mb=4096 -malloc_limit_mb=2048 -max_len=1048576 \
    -artifact_prefix="build-fuzz/crashes/$t/" "$@" \
    "build-fuzz/corpus/$t" "tests/fuzz/corpus/$t" || status=1
done
exit $status
