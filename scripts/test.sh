#!/usr/bin/env bash
# The whole test suite: set up, build, run ctest; then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer; then a bounded libFuzzer run on the GGUF
# reader. Fails if anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
export CTEST_OUTPUT_ON_FAILURE=1

echo "== build (Release) and test"
./scripts/build.sh
(cd build && ctest -j"$jobs" --timeout 900)

echo "== build (ASan+UBSan) and test"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFER_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest -j"$jobs" --timeout 1800)

if [ -x scripts/run-fuzz.sh ]; then
  echo "== fuzz the GGUF reader (bounded)"
  ./scripts/run-fuzz.sh "${INFER_FUZZ_SECONDS:-60}"
fi
