# infer_model_quantize vs llama.cpp's quantizer, one ctest per synthetic architecture
# (test_quantize ARCH; the plain `test_quantize` registration runs llama).
foreach(arch qwen2 qwen3 gptoss gemma3)
  add_test(NAME test_quantize_${arch} COMMAND test_quantize ${arch})
  set_tests_properties(test_quantize_${arch} PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600
    ENVIRONMENT "CMOCKA_MESSAGE_OUTPUT=stdout")
endforeach()

# infer-quantize's command line, progress, summary and failure modes (no partial files).
add_test(NAME quantize_tool COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tools/quantize_tool.sh
  ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/../shared/testdata/models)
set_tests_properties(quantize_tool PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
