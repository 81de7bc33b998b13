# Vulkan backend tests (the golden models on Vulkan are registered by golden.cmake as
# golden_vulkan_<model>). test_vulkan_ops knows whether the backend was built in, so a
# build with Vulkan whose device cannot be opened fails instead of passing silently.
if(INFER_VULKAN)
  target_compile_definitions(test_vulkan_ops PRIVATE INFER_TEST_HAVE_VULKAN=1)
  target_compile_definitions(test_vk_gpu_nodes PRIVATE INFER_TEST_HAVE_VULKAN=1)
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

# The command-line contract with no driver reachable: --backend vulkan exits 1 naming the
# cause, --backend auto falls back to the CPU.
if(INFER_VULKAN AND TARGET infer-cli)
  set(_vk_model ${CMAKE_CURRENT_SOURCE_DIR}/data/models/stories260K.gguf)
  set(_vk_nodev "VK_ICD_FILENAMES=/nonexistent/icd.json;VK_DRIVER_FILES=/nonexistent/icd.json")
  add_test(NAME vulkan_cli_no_device COMMAND sh -c
    "out=$(\"$0\" -m \"$1\" -p Once -n 2 --backend vulkan 2>&1); rc=$?; echo \"$out\"; test $rc -eq 1 && echo \"$out\" | grep -q 'no Vulkan driver found'"
    $<TARGET_FILE:infer-cli> ${_vk_model})
  add_test(NAME vulkan_cli_auto_fallback COMMAND $<TARGET_FILE:infer-cli> -m ${_vk_model} -p Once -n 2 --backend auto)
  set_tests_properties(vulkan_cli_no_device vulkan_cli_auto_fallback PROPERTIES LABELS vulkan ENVIRONMENT "${_vk_nodev}")
  set_tests_properties(vulkan_cli_auto_fallback PROPERTIES PASS_REGULAR_EXPRESSION " on cpu ")
endif()
