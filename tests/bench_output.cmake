# infer-bench -o json|jsonl|csv parses with Python's json/csv modules and carries
# llama-bench's field names (tests/bench/check_bench_output.py); seconds on stories260K.
find_program(INFER_PYTHON3 python3)
if(TARGET infer-bench AND INFER_PYTHON3)
  add_test(NAME bench_output_formats
    COMMAND ${INFER_PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/bench/check_bench_output.py
            $<TARGET_FILE:infer-bench> ${PROJECT_SOURCE_DIR}/../shared/testdata/models/stories260K.gguf)
  set_tests_properties(bench_output_formats PROPERTIES TIMEOUT 60 SKIP_RETURN_CODE 77)
endif()
