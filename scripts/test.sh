#!/usr/bin/env bash
# The whole test suite: set up, build, run ctest; then the same suite under
# AddressSanitizer + UndefinedBehaviorSanitizer; then a bounded libFuzzer run on the GGUF
# reader and the model path; then the aarch64 build under qemu-user (scripts/test-aarch64.sh,
# when the cross tools are installed). Fails if anything fails; the last line sums up all runs.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc 2>/dev/null || echo 2)
export CTEST_OUTPUT_ON_FAILURE=1
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

passed=0; failed=0; skipped=0
tally() {   # adds up a ctest log's counts (ctest prints "N% tests passed, F tests failed out of T")
  local line total f s
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1)
  total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
  s=$(grep -cE '\*\*\*Skipped|Not Run' "$1" || true)
  passed=$((passed + total - f - s)); failed=$((failed + f)); skipped=$((skipped + s))
}

status=0
echo "== build (Release) and test"
./scripts/build.sh
(cd build && ctest -j"$jobs" --timeout 900) 2>&1 | tee "$logs/release.log" || status=1
tally "$logs/release.log"

echo "== build (ASan+UBSan) and test"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DINFER_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest -j"$jobs" --timeout 1800) 2>&1 | tee "$logs/asan.log" || status=1
tally "$logs/asan.log"

echo "== fuzz the GGUF reader and the model path (bounded)"
if ./scripts/run-fuzz.sh "${INFER_FUZZ_SECONDS:-120}" > "$logs/fuzz.log" 2>&1; then
  grep -E '^fuzzing|^stat::number_of_executed_units' "$logs/fuzz.log" || true
  passed=$((passed + 1))
else
  tail -n 40 "$logs/fuzz.log"; echo "fuzzing found a problem (see build-fuzz/crashes/)"
  failed=$((failed + 1)); status=1
fi

echo "== aarch64 build under qemu-user, -cpu max and -cpu cortex-a53 (scripts/test-aarch64.sh)"
arm_rc=0
./scripts/test-aarch64.sh "$logs" || arm_rc=$?
if [ "$arm_rc" -eq 77 ]; then   # cross tools missing: nothing ran, and nothing is counted as passed
  echo "aarch64: the aarch64 run did NOT happen (cross compiler or qemu-user missing); counted as 1 skipped"
  skipped=$((skipped + 1))
else
  failed_before=$failed
  for f in "$logs/aarch64-max.log" "$logs/aarch64-cortex-a53.log"; do
    if [ -f "$f" ] && grep -qE 'tests passed, [0-9]+ tests? failed out of' "$f"; then tally "$f"; fi
  done
  if [ "$arm_rc" -ne 0 ]; then   # a failure no ctest count shows (the build, a missing test) counts as one
    status=1
    [ "$failed" -gt "$failed_before" ] || failed=$((failed + 1))
  fi
fi

echo "(tests of the Release and the ASan+UBSan runs, the fuzz run as one, and the aarch64 runs per CPU model)"
echo "summary: $passed passed, $failed failed, $skipped skipped"
exit $status
