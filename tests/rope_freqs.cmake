# test_rope_freqs runs the CPU cases by default; with --vulkan it checks the Vulkan rope op
# with frequency factors and a model with rope_freqs on Vulkan against the CPU (skipped,
# exit 77, when no Vulkan device can be opened or Vulkan is not built in).
if(TARGET test_rope_freqs)
  add_test(NAME test_rope_freqs_vulkan COMMAND test_rope_freqs --vulkan)
  set_tests_properties(test_rope_freqs_vulkan PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS vulkan
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
