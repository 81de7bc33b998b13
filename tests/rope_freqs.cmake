# test_rope_freqs runs the CPU cases by default; with --vulkan it checks the Vulkan rope op
# with frequency factors and a model with rope_freqs on Vulkan against the CPU (skipped,
# exit 77, when no Vulkan device can be opened or Vulkan is not built in).
if(TARGET test_rope_freqs)
  add_test(NAME test_rope_freqs_vulkan COMMAND test_rope_freqs --vulkan)
  set_tests_properties(test_rope_freqs_vulkan PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS vulkan
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
# GCC 12's aarch64 loop vectorizer stops with an internal compiler error on this file
# (vect_transform_reduction, Debian 12.2.0-14 cross compiler); the test loses nothing
# without it.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU" AND CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64"
   AND CMAKE_C_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(test_rope_freqs PRIVATE -fno-tree-loop-vectorize)
endif()
