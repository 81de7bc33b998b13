# Grammar and JSON-schema output checked by outside references (tests/grammar/): an
# independent GBNF recognizer, Python's json and the jsonschema validator. Runs with the
# project's .venv (pytest, jsonschema); without it the test is Skipped (exit 77).
set(_gr_python ${PROJECT_SOURCE_DIR}/.venv/bin/python)
add_test(NAME grammar_output
  COMMAND sh -c "if [ -x '${_gr_python}' ] && '${_gr_python}' -c 'import pytest, jsonschema' 2>/dev/null; then exec '${_gr_python}' -m pytest -q -p no:cacheprovider '${CMAKE_CURRENT_SOURCE_DIR}/grammar/test_grammar_output.py'; else echo 'no .venv with pytest and jsonschema'; exit 77; fi")
# Under the sanitizers the real-model cases (seconds of decoding each) are left to the
# Release run: everything else still runs.
set(_gr_skip_real 0)
if(INFER_SANITIZE)
  set(_gr_skip_real 1)
endif()
set_tests_properties(grammar_output PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 900 LABELS grammar
  ENVIRONMENT "INFER_SKIP_REAL_MODELS=${_gr_skip_real};INFER_TOOLS=${PROJECT_BINARY_DIR};INFER_MODELS=${CMAKE_CURRENT_SOURCE_DIR}/data/models;INFER_GRAMMARS=${CMAKE_CURRENT_SOURCE_DIR}/data/grammars;INFER_SHARED=${PROJECT_SOURCE_DIR}/../shared/testdata")

# The converter against the schema corpus (tests/grammar/schema_cases): jsonschema
# validates sampled texts, the grammar accepts/rejects hand-labelled instances.
add_test(NAME grammar_schema_cases
  COMMAND sh -c "if [ -x '${_gr_python}' ] && '${_gr_python}' -c 'import pytest, jsonschema' 2>/dev/null; then exec '${_gr_python}' -m pytest -q -p no:cacheprovider '${CMAKE_CURRENT_SOURCE_DIR}/grammar/test_schema_cases.py'; else echo 'no .venv with pytest and jsonschema'; exit 77; fi")
set_tests_properties(grammar_schema_cases PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS grammar
  ENVIRONMENT "INFER_TOOLS=${PROJECT_BINARY_DIR};INFER_SHARED=${PROJECT_SOURCE_DIR}/../shared/testdata")
