# Partial offload (issue 15): the golden logits of one small model per architecture with
# the layers split between the CPU and Vulkan (lavapipe in CI) at every split-point
# class: none on the GPU, the last layer, all but the first, all; and for the MoE model
# the experts of some GPU layers kept on the CPU. Same tolerances as the golden tests.
if(INFER_VULKAN)
  set(_offload_models synth-llama-Q4_K_M synth-qwen2-Q4_K_M synth-qwen3-Q4_K_M synth-gptoss-MXFP4_MOE
      synth-gemma3-Q4_K_M)
  foreach(model ${_offload_models})
    foreach(ngl 0 1 2 all)
      add_test(NAME offload_${model}_ngl${ngl} COMMAND test_golden ${model} vulkan ${ngl})
      set_tests_properties(offload_${model}_ngl${ngl} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300
        LABELS "golden;vulkan;offload" ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
    endforeach()
  endforeach()
  # gpt-oss: experts of layers 0-1 on the CPU under full offload; of every GPU layer
  # under a two-layer offload.
  foreach(split "all;2" "2;3")
    list(GET split 0 ngl)
    list(GET split 1 moe)
    add_test(NAME offload_synth-gptoss-MXFP4_MOE_ngl${ngl}_cpumoe${moe}
      COMMAND test_golden synth-gptoss-MXFP4_MOE vulkan ${ngl} ${moe})
    set_tests_properties(offload_synth-gptoss-MXFP4_MOE_ngl${ngl}_cpumoe${moe} PROPERTIES SKIP_RETURN_CODE 77
      TIMEOUT 300 LABELS "golden;vulkan;offload" ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
  endforeach()
  set_tests_properties(test_offload PROPERTIES LABELS "vulkan;offload")
endif()

# The tools on a split placement: infer-cli with -ngl 1 on Vulkan prints where the layers
# went (stories260K: 5 layers) and generates; infer-bench runs the same split.
if(INFER_VULKAN AND TARGET infer-cli)
  add_test(NAME offload_cli_ngl1 COMMAND infer-cli -m ${PROJECT_SOURCE_DIR}/tests/data/models/stories260K.gguf
    -p Once -n 4 -t 1 --temp 0 --backend vulkan -ngl 1)
  set_tests_properties(offload_cli_ngl1 PROPERTIES TIMEOUT 120 LABELS "vulkan;offload"
    PASS_REGULAR_EXPRESSION "placement: layers 0-3 cpu, 4-4 \\+ output vulkan.*generation: ")
  add_test(NAME offload_bench_ngl2 COMMAND infer-bench -m ${PROJECT_SOURCE_DIR}/tests/data/models/stories260K.gguf
    -p 8 -n 4 -r 1 -t 1 --backend vulkan -ngl 2 --peak-gbps 100)
  set_tests_properties(offload_bench_ngl2 PROPERTIES TIMEOUT 120 LABELS "vulkan;offload"
    PASS_REGULAR_EXPRESSION "placement: layers 0-2 cpu, 3-4 \\+ output vulkan.*tg4 .*GPU [0-9]+% of 100")
endif()

# Under the sanitizers the golden and tool runs on Vulkan turn leak detection off, as
# golden_vulkan_* do (lavapipe's globals read as leaks once the loader unloads it);
# test_offload pins the drivers and keeps it, so the split contexts' teardown is checked.
if(INFER_VULKAN AND INFER_SANITIZE)
  get_property(_offload_tests DIRECTORY PROPERTY TESTS)
  foreach(t ${_offload_tests})
    if(t MATCHES "^offload_")
      set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
    endif()
  endforeach()
endif()
