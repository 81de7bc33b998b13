# Vulkan backend tests (the golden models on Vulkan are registered by golden.cmake as
# golden_vulkan_<model>). test_vulkan_ops knows whether the backend was built in, so a
# build with Vulkan whose device cannot be opened fails instead of passing silently.
if(INFER_VULKAN)
  target_compile_definitions(test_vulkan_ops PRIVATE INFER_TEST_HAVE_VULKAN=1)
  set_tests_properties(test_vulkan_ops PROPERTIES LABELS vulkan)
  # No driver reachable: the constructor must fail cleanly with INFER_ERR_NO_DEVICE.
  add_test(NAME vulkan_no_device COMMAND test_vulkan_ops --no-device)
  set_tests_properties(vulkan_no_device PROPERTIES LABELS vulkan
    ENVIRONMENT "VK_ICD_FILENAMES=/nonexistent/icd.json;VK_DRIVER_FILES=/nonexistent/icd.json")
endif()
