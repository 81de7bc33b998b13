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

# Under the sanitizers: the Vulkan loader unloads the driver when an instance is destroyed,
# and memory that lavapipe keeps in its globals then reads as a leak from an unnamed
# module. test_vulkan_ops pins the drivers (RTLD_NODELETE) and keeps leak checking; the
# golden runs on Vulkan only turn leak detection off (the same library code is leak-checked
# by the CPU golden runs and the unit tests).
if(INFER_VULKAN AND INFER_SANITIZE)
  foreach(model ${INFER_GOLDEN_MODELS})
    if(TEST golden_vulkan_${model})
      set_property(TEST golden_vulkan_${model} APPEND PROPERTY ENVIRONMENT
        "ASAN_OPTIONS=detect_leaks=0:abort_on_error=1")
    endif()
  endforeach()
endif()
