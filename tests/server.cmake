# infer-server integration tests: pytest (tests/server/) with the official openai and
# ollama clients from .venv (scripts/setup.sh). Skipped (exit 77) when the venv or its
# packages are missing, or when pytest collects nothing (exit 5): never reported passed.
if(NOT TARGET infer-server)   # cross build without libmicrohttpd
  return()
endif()
add_test(NAME server_pytest
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/server/run.sh ${PROJECT_SOURCE_DIR}/.venv/bin/python
          $<TARGET_FILE:infer-server> $<TARGET_FILE:infer-cli> ${CMAKE_CURRENT_SOURCE_DIR}/server)
set_tests_properties(server_pytest PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS server)
# The real-model tool-call round trip (scripts/test-real-models.sh runs it; skipped here).
add_test(NAME server_tools_real
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/server/run_real.sh ${PROJECT_SOURCE_DIR}/.venv/bin/python
          $<TARGET_FILE:infer-server> $<TARGET_FILE:infer-cli> ${CMAKE_CURRENT_SOURCE_DIR}/server)
set_tests_properties(server_tools_real PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS server)
