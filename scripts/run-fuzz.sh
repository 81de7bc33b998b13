#!/bin/sh
# Builds the libFuzzer targets with clang into build-fuzz and runs them within SECONDS
# (default 60) in all: the GGUF reader (fuzz_gguf, seeds in tests/corpus/gguf) for the
# first half, the model path (fuzz_model: hparams, weights, tokenizer, forward pass,
# sampler, chat on edits of a small model; seeds in tests/corpus/model) for the rest.
# Exits nonzero if a fuzzer finds a crash, a sanitizer report or a timeout; the
# reproducer is left in build-fuzz/crashes/.
#   scripts/run-fuzz.sh [SECONDS]
set -eu
seconds=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-fuzz"
jobs=$(nproc 2>/dev/null || echo 2)

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DINFER_FUZZ=ON -DINFER_BUILD_TESTS=OFF -DINFER_VULKAN=OFF >/dev/null
cmake --build "$build" --target fuzz_gguf fuzz_model -j "$jobs"

gguf_seconds=$((seconds / 2))
[ "$gguf_seconds" -ge 1 ] || gguf_seconds=1
model_seconds=$((seconds - gguf_seconds))
[ "$model_seconds" -ge 1 ] || model_seconds=1
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
run fuzz_gguf gguf "$gguf_seconds" 65536
run fuzz_model model "$model_seconds" 4096
