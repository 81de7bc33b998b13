# infer_model_quantize vs llama.cpp's quantizer, one ctest per synthetic architecture
# (test_quantize ARCH; the plain `test_quantize` registration runs llama).
foreach(arch qwen2 qwen3 gptoss gemma3)
  add_test(NAME test_quantize_${arch} COMMAND test_quantize ${arch})
  set_tests_properties(test_quantize_${arch} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endforeach()
