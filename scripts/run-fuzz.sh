#!/bin/sh
# Builds the libFuzzer targets with clang into build-fuzz and runs each target listed in
# tests/fuzz/targets.txt (target, seed corpus under tests/corpus/, max input length, weight)
# for its weighted share of SECONDS (default 60). Exits nonzero if a fuzzer finds a crash,
# a sanitizer report or a timeout; the reproducer is left in build-fuzz/crashes/.
# For a long run outside CI: scripts/run-fuzz.sh 3600
#   scripts/run-fuzz.sh [SECONDS]
set -eu
seconds=${1:-60}
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
run() {   # run TARGET CORPUS SECONDS MAX_LEN
    work="$build/corpus-$2"
    mkdir -p "$work"
    cp "$root"/tests/corpus/"$2"/* "$work"/ 2>/dev/null || true
    echo "fuzzing $1 for ${3}s"
    "$build/tests/fuzz/$1" -max_total_time="$3" -timeout=5 -rss_limit_mb=2048 -max_len="$4" \
        -artifact_prefix="$build/crashes/" -print_final_stats=1 "$work"
}
grep -v '^#' "$table" | awk 'NF>=4' | while read -r target corpus maxlen weight; do
    s=$((seconds * weight / total_weight))
    [ "$s" -ge 1 ] || s=1
    run "$target" "$corpus" "$s" "$maxlen"
done
