#!/usr/bin/env bash
# The aarch64 build (cmake/toolchain-aarch64-linux-gnu.cmake) under qemu-user, twice:
# `-cpu max` (DotProd and I8MM: every NEON path up to smmla) and `-cpu cortex-a53`
# (ARMv8.0, base NEON only). It runs a subset of the ctest suite chosen to fit about six
# minutes on 2 cores (emulation is 10-50x slower than native):
#   - the ISA dispatcher (test_cpu_isa_aarch64: detected level, forced levels, the table
#     every type runs on) and the kernels against the scalar reference (test_matmul,
#     test_vec_dot_neon: every NEON level the emulated CPU has);
#   - every op test (test_cpu_ops, test_rope_freqs, test_threadpool);
#   - every dequantization and quantizer test (test_dtype, test_quant, test_quant_mix,
#     test_quantize: bit-exact with llama.cpp's dequantizer and quantizer). test_quantize
#     (model quantization, no ISA dispatch inside, the slowest test under emulation) runs
#     under -cpu max only;
#   - golden logits vs llama.cpp (../shared tolerances) of stories260K, one model per
#     architecture (llama, qwen2, qwen3, gpt-oss, gemma3) and per weight-format family
#     (F16, BF16, Q4_0/Q8_0, K-quants, IQ4_NL/IQ4_XS, MXFP4).
# Tests that start the tools through sh or `cmake -P` (no binfmt_misc here), Python,
# Vulkan and the server are left to the native runs.
#
#   scripts/test-aarch64.sh [LOG_DIR]     (LOG_DIR keeps aarch64-<cpu>.log per CPU model)
#
# Exits 77 when the cross compiler or qemu-aarch64 is missing (nothing ran), 1 when a
# test failed.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in aarch64-linux-gnu-gcc qemu-aarch64; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test-aarch64: $tool not found (scripts/setup.sh installs it): the aarch64 run did not happen"
    exit 77
  fi
done
if [ ! -e /usr/lib/aarch64-linux-gnu/pkgconfig/jansson.pc ]; then
  echo "test-aarch64: libjansson-dev:arm64 not installed (scripts/setup.sh): the aarch64 run did not happen"
  exit 77
fi
jobs=$(nproc 2>/dev/null || echo 2)
logs=${1:-}
[ -n "$logs" ] || { logs=$(mktemp -d); trap 'rm -rf "$logs"' EXIT; }
mkdir -p "$logs"

tests=(
  test_cpu_isa_aarch64 test_matmul
  test_cpu_ops test_rope_freqs test_threadpool
  test_dtype test_quant test_quant_mix
  golden_stories260K                   # llama, F32, plus greedy, perplexity and the tools
  golden_synth-llama-F16 golden_synth-llama-BF16
  golden_synth-llama-Q4_0              # legacy 4-bit
  golden_synth-qwen2-Q8_0              # qwen2 (QKV bias, tied output), legacy 8-bit
  golden_synth-qwen3-Q4_K_M            # qwen3 (Q/K norm, head_dim 128), Q4_K + Q6_K
  golden_synth-gemma3-Q4_K_M           # gemma3, K-quants (with Q5_0/Q8_0 leftovers)
  golden_synth-llama-IQ4_XS golden_synth-gptoss-IQ4_NL
  golden_synth-gptoss-MXFP4_MOE        # gpt-oss: MoE, sinks, sliding window, MXFP4 experts
)
# the NEON kernel tables against scalar, level by level (required wherever it exists)
[ -f tests/unit/test_vec_dot_neon.c ] && tests+=(test_vec_dot_neon)
max_only=(test_quantize)

echo "== aarch64 cross build (build-aarch64, Release)"
t0=$(date +%s)
cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DINFER_VULKAN=OFF > "$logs/aarch64-configure.log" 2>&1 ||
  { cat "$logs/aarch64-configure.log"; exit 1; }
cmake --build build-aarch64 -j"$jobs" > "$logs/aarch64-build.log" 2>&1 ||
  { tail -n 60 "$logs/aarch64-build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"

status=0
for cpu in max cortex-a53; do
  run=("${tests[@]}")
  [ "$cpu" = max ] && run+=("${max_only[@]}")
  regex="^($(IFS='|'; echo "${run[*]}"))\$"
  echo "== aarch64 tests under qemu-aarch64 -cpu $cpu (${#run[@]} tests)"
  t0=$(date +%s)
  cmake -S . -B build-aarch64 -DINFER_QEMU_CPU="$cpu" > /dev/null 2>&1
  (cd build-aarch64 && CTEST_OUTPUT_ON_FAILURE=1 ctest -j"$jobs" --timeout 600 -R "$regex") \
    > "$logs/aarch64-$cpu.log" 2>&1 || status=1
  grep -E 'tests passed|\*\*\*Failed|\*\*\*Skipped|Timeout|Not Run|Exception' "$logs/aarch64-$cpu.log" || true
  # which path ran: the dispatcher test's own report (full output in ctest's LastTest.log)
  grep -E '^(aarch64 ISA:|level )' build-aarch64/Testing/Temporary/LastTest.log | sed 's/^/  /' || true
  n=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#' "$logs/aarch64-$cpu.log" || true)
  if [ "$n" -ne "${#run[@]}" ]; then   # a missing test is a failure, never a silent pass
    echo "test-aarch64: ran $n tests under -cpu $cpu, expected ${#run[@]}"
    status=1
  fi
  echo "-cpu $cpu: $(( $(date +%s) - t0 )) s"
done
exit $status
