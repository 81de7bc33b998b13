# Golden runs through the Vulkan decode kernels: the prompt fed one token per decode
# (INFER_TEST_GOLDEN_STEP=1; the plain golden runs feed it as one batch, which takes the
# tiled matmul), so every weight type goes through the one-row matvec kernels and the
# fused add + RMSNorm, checked against the reference logits. Then the kernels that the
# default choices leave idle at the test models' sizes: split-K attention forced on every
# cache longer than 16 keys (INFER_VK_ATTN_SPLIT; sinks and sliding windows in gpt-oss
# and gemma3), and the integer dot-product kernels for Q4_0/Q8_0 (INFER_VK_INT_DOT, which
# lavapipe has but does not accelerate); and the mid-pass submission of command buffers
# at its most frequent (INFER_VK_SUBMIT_FIRST).
if(INFER_VULKAN)
  set(_vkk_env "CMOCKA_MESSAGE_OUTPUT=stdout;INFER_TEST_GOLDEN_STEP=1")
  if(INFER_SANITIZE)
    list(APPEND _vkk_env "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
  endif()
  function(_vkk_golden name model extra)
    add_test(NAME ${name} COMMAND test_golden ${model} vulkan)
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
      LABELS "golden;vulkan" ENVIRONMENT "${_vkk_env};${extra}")
  endfunction()
  # One model per decoder family (the unit tests check every type's kernel against the
  # dequant fixtures; these runs are seconds each on lavapipe, so only a few).
  foreach(model synth-llama-Q6_K)
    _vkk_golden(golden_vulkan_step_${model} ${model} "")
  endforeach()
  # Each pass split into the most command buffers (submitted after 2, 4, 8, ... dispatches).
  _vkk_golden(golden_vulkan_step_submit2_synth-llama-Q5_1 synth-llama-Q5_1 "INFER_VK_SUBMIT_FIRST=2")
  foreach(model synth-gptoss-MXFP4_MOE synth-gemma3-Q4_K_M)
    _vkk_golden(golden_vulkan_step_attn_split_${model} ${model} "INFER_VK_ATTN_SPLIT=16")
  endforeach()
  foreach(model synth-llama-Q4_0 synth-gptoss-Q8_0)
    _vkk_golden(golden_vulkan_step_int_dot_${model} ${model} "INFER_VK_INT_DOT=1")
  endforeach()
endif()

# The cooperative-matrix prompt kernel in its emulated form (INFER_VK_COOPMAT=emu: operands
# rounded to 16-bit floats as the units take them, the kernel's tiles, bounds and MoE
# routing): the 64-token prompt as one batch, which takes the prompt kernel for every
# weight matmul, against the same reference logits and tolerances as every golden run.
# Quantized files only: their bound (mean KL 5e-3) leaves room for 16-bit operands, the
# F32 files' (1e-5) does not (see bench/RESULTS.md, issue 15 kernel work).
if(INFER_VULKAN)
  set(_coop_env "CMOCKA_MESSAGE_OUTPUT=stdout;INFER_VK_COOPMAT=emu")
  if(INFER_SANITIZE)
    list(APPEND _coop_env "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
  endif()
  # (the gpt-oss files run the MoE form on MXFP4, Q8_0 and IQ4_NL experts)
  foreach(model synth-llama-Q4_K_M synth-gptoss-MXFP4_MOE synth-gemma3-Q4_K_M synth-qwen3-Q8_0 synth-qwen2-Q5_0
                synth-llama-IQ4_XS synth-gptoss-Q8_0 synth-gptoss-IQ4_NL)
    add_test(NAME golden_vulkan_coopmat_emu_${model} COMMAND test_golden ${model} vulkan)
    set_tests_properties(golden_vulkan_coopmat_emu_${model} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
      LABELS "golden;vulkan" ENVIRONMENT "${_coop_env}")
  endforeach()
endif()
