# Sequences, embeddings and cancel on Vulkan too (the CPU runs are the auto-registered
# unit tests).
if(INFER_VULKAN)
  add_test(NAME test_sequences_vulkan COMMAND test_sequences vulkan)
  set_tests_properties(test_sequences_vulkan PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS vulkan
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
if(INFER_VULKAN)
  add_test(NAME test_embeddings_vulkan COMMAND test_embeddings vulkan)
  set_tests_properties(test_embeddings_vulkan PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS vulkan
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
if(INFER_VULKAN)
  add_test(NAME test_cancel_vulkan COMMAND test_cancel vulkan)
  set_tests_properties(test_cancel_vulkan PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS vulkan
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endif()
