# infer-pull against a local HTTP server (tests/pull/: Python's http.server on a free
# loopback port, driven by pytest). Needs the tool (libcurl) and a Python with pytest:
# the repository's .venv (scripts/setup.sh) or the system python3.
if(TARGET infer-pull)
  find_program(INFER_TEST_PYTHON NAMES python3 PATHS ${PROJECT_SOURCE_DIR}/.venv/bin NO_DEFAULT_PATH)
  if(NOT INFER_TEST_PYTHON)
    find_program(INFER_TEST_PYTHON NAMES python3)
  endif()
  set(_pull_has_pytest 1)
  if(INFER_TEST_PYTHON)
    execute_process(COMMAND ${INFER_TEST_PYTHON} -c "import pytest" RESULT_VARIABLE _pull_has_pytest OUTPUT_QUIET ERROR_QUIET)
  endif()
  if(_pull_has_pytest EQUAL 0)
    add_test(NAME pull COMMAND ${INFER_TEST_PYTHON} -m pytest -q -p no:cacheprovider ${CMAKE_CURRENT_SOURCE_DIR}/pull)
    set_tests_properties(pull PROPERTIES TIMEOUT 300 ENVIRONMENT
      "INFER_TOOLS_DIR=${PROJECT_BINARY_DIR};MODEL=${PROJECT_SOURCE_DIR}/../shared/testdata/models/stories260K.gguf")
  else()
    message(WARNING "python3 with pytest not found: the infer-pull test is not registered")
  endif()
endif()
