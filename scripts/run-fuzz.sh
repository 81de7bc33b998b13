#!/bin/sh
# Builds the libFuzzer target for the GGUF reader with clang into build-fuzz and runs it
# for SECONDS (default 60) from the seed corpus in tests/corpus/gguf. Exits nonzero if
# the fuzzer finds a crash, a sanitizer report or a timeout; the reproducer is left in
# build-fuzz/crashes/.
#   scripts/run-fuzz.sh [SECONDS]
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DINFER_FUZZ=ON -DINFER_BUILD_TESTS=OFF -DINFER_VULKAN=OFF >/dev/null
cmake --build "$build" --target fuzz_gguf -j "$jobs"

# The checked-in seeds are never modified: new inputs go to a scratch corpus.
work="$build/corpus-gguf"
mkdir -p "$work" "$build/crashes"
cp "$root"/tests/corpus/gguf/* "$work"/ 2>/dev/null || true

echo "fuzzing the GGUF reader for ${seconds}s"
"$build/tests/fuzz/fuzz_gguf" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$build/crashes/" -print_final_stats=1 "$work"
