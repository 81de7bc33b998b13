#!/bin/sh
# Builds the libFuzzer targets with clang into build-fuzz and runs each target listed in
# tests/fuzz/targets.txt (target, seed corpus under tests/corpus/, max input length,
# weight, optional -len_control) for its weighted share of SECONDS (default 60). Every
# listed target runs even when an earlier one fails; the script exits nonzero if any
# fuzzer found a crash, a sanitizer report, a leak or a timeout, and the reproducer is
# left in build-fuzz/crashes/ (run it again with build-fuzz/tests/fuzz/TARGET FILE).
#
#   scripts/run-fuzz.sh [SECONDS] [TARGET...]     (only the named targets when given)
#
# Long runs outside CI, e.g. an hour shared by all targets, or a night on one:
#   scripts/run-fuzz.sh 3600
#   INFER_FUZZ_JOBS=2 scripts/run-fuzz.sh 28800 fuzz_model
# INFER_FUZZ_JOBS=N runs N fuzzing processes per target in parallel (libFuzzer -fork=N:
# a crash in one does not end the run; all crashes are kept). The scratch corpora in
# build-fuzz/corpus-NAME persist between runs, so a long run continues where the last
# one stopped; the checked-in seeds are never modified (to keep a good new input as a
# seed, copy it into tests/corpus/NAME/ by hand, small).
set -eu
seconds=${1:-60}
[ $# -gt 0 ] && shift
only="$*"
fork=${INFER_FUZZ_JOBS:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
jobs=$(nproc 2>/dev/null || echo 2)
table="$root/tests/fuzz/targets.txt"
targets=$(grep -v '^#' "$table" | awk 'NF>=4 {print $1}')
total_weight=$(grep -v '^#' "$table" | awk 'NF>=4 {w+=$4} END {print w}')

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DINFER_FUZZ=ON -DINFER_BUILD_TESTS=OFF -DINFER_VULKAN=OFF >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" --target $targets -j "$jobs"
mkdir -p "$build/crashes"

# The checked-in seeds are never modified: new inputs go to scratch corpora.
run() {   # run TARGET CORPUS SECONDS MAX_LEN LEN_CONTROL
    work="$build/corpus-$2"
    mkdir -p "$work"
    cp "$root"/tests/corpus/"$2"/* "$work"/ 2>/dev/null || true
    echo "fuzzing $1 for ${3}s (max_len $4, len_control $5)"
    extra=""
    [ "$fork" -gt 0 ] && extra="-fork=$fork -ignore_crashes=1"
    # shellcheck disable=SC2086
    "$build/tests/fuzz/$1" -max_total_time="$3" -timeout=5 -rss_limit_mb=2048 -max_len="$4" \
        -len_control="$5" -artifact_prefix="$build/crashes/" -print_final_stats=1 $extra "$work"
}
status=0
grep -v '^#' "$table" | awk 'NF>=4' > "$build/targets.run"
while read -r target corpus maxlen weight lenctl; do
    if [ -n "$only" ] && ! printf ' %s ' "$only" | grep -q " $target "; then continue; fi
    s=$((seconds * weight / total_weight))
    [ -n "$only" ] && s=$seconds   # named targets share nothing: each gets SECONDS
    [ "$s" -ge 1 ] || s=1
    run "$target" "$corpus" "$s" "$maxlen" "${lenctl:-100}" || { echo "fuzzing $target FAILED"; status=1; }
done < "$build/targets.run"
# A forked run survives crashes, so count what it left behind.
if [ "$fork" -gt 0 ] && ls "$build"/crashes/crash-* "$build"/crashes/leak-* "$build"/crashes/timeout-* >/dev/null 2>&1; then
    echo "crash reproducers in $build/crashes/"; status=1
fi
exit $status
