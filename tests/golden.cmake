# Golden tests: one ctest per model file, the reference engine's logits (and for
# stories260K the greedy continuation and perplexity) on the CPU backend with 2 threads,
# and the same on Vulkan (skipped when no device). The list is every model the shared
# reference data names, plus any model file found beside it at configure time; a model
# whose fixtures are absent is reported as Skipped (exit 77).
set(INFER_GOLDEN_MODELS
  stories260K
  synth-gptoss-F32 synth-gptoss-MXFP4_MOE synth-gptoss-Q8_0
  synth-llama-BF16 synth-llama-F16 synth-llama-F32 synth-llama-Q4_0 synth-llama-Q4_1
  synth-llama-Q4_K_M synth-llama-Q5_0 synth-llama-Q5_1 synth-llama-Q5_K_M synth-llama-Q6_K
  synth-llama-Q8_0
  synth-qwen2-F32 synth-qwen2-Q4_K_M synth-qwen2-Q5_0 synth-qwen2-Q5_K_M synth-qwen2-Q8_0
  synth-qwen3-F32 synth-qwen3-Q4_K_M synth-qwen3-Q6_K synth-qwen3-Q8_0)
file(GLOB _golden_found CONFIGURE_DEPENDS
  ${PROJECT_SOURCE_DIR}/../shared/testdata/models/*.gguf ${CMAKE_CURRENT_SOURCE_DIR}/data/models/*.gguf)
foreach(f ${_golden_found})
  get_filename_component(n ${f} NAME_WE)
  # only models with golden reference files are golden tests
  if(EXISTS ${PROJECT_SOURCE_DIR}/../shared/testdata/golden/${n}.logits.f32 OR
     EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/data/golden/${n}.logits.f32)
    list(APPEND INFER_GOLDEN_MODELS ${n})
  endif()
endforeach()
list(REMOVE_DUPLICATES INFER_GOLDEN_MODELS)

# In a cross build the tools test_golden starts (infer-cli, infer-perplexity) run under
# the same emulator as the test itself.
set(_golden_env "CMOCKA_MESSAGE_OUTPUT=stdout")
if(CMAKE_CROSSCOMPILING_EMULATOR)
  list(JOIN CMAKE_CROSSCOMPILING_EMULATOR " " _golden_emu)
  list(APPEND _golden_env "INFER_TEST_EMULATOR=${_golden_emu}")
endif()
foreach(model ${INFER_GOLDEN_MODELS})
  add_test(NAME golden_${model} COMMAND test_golden ${model} cpu)
  set_tests_properties(golden_${model} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS golden
    ENVIRONMENT "${_golden_env}")
  if(INFER_VULKAN)
    add_test(NAME golden_vulkan_${model} COMMAND test_golden ${model} vulkan)
    set_tests_properties(golden_vulkan_${model} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
      LABELS "golden;vulkan" ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
  endif()
endforeach()

# The same CPU golden runs with each x86 kernel level forced (issue 13: every ISA path
# against the reference logits, not only the best one this CPU has). A level the CPU
# lacks falls back to the best it has, so on a machine without AMX or AVX-512 these
# repeat a lower path rather than fail. Not in a cross build: the x86 levels mean nothing there.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64" AND NOT CMAKE_CROSSCOMPILING)
  foreach(isa scalar avx2 avx512)
    foreach(model ${INFER_GOLDEN_MODELS})
      add_test(NAME golden_${isa}_${model} COMMAND test_golden ${model} cpu)
      set_tests_properties(golden_${isa}_${model} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
        LABELS "golden;golden_isa" ENVIRONMENT "${_golden_env};INFER_CPU_ISA=${isa}")
    endforeach()
  endforeach()
endif()
