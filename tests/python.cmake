# The Python package (python/libinfer) under pytest, against this build's libinfer.so
# (LIBINFER_LIBRARY) and infer-cli (INFER_CLI, the greedy-output comparison).
#
#   python               python/tests except the pip install test
#   python_pip_install   `pip install ./python` into a fresh venv, bundling this build's
#                        library (about 10 s; no network)
#
# The interpreter is the repository's .venv (scripts/setup.sh makes it with pytest and
# wheel). pytest's own exit codes are kept: 5 (no tests collected) fails like any
# non-zero code. Under INFER_SANITIZE the instrumented library is loaded into a plain
# Python, so the sanitizer runtimes are preloaded and leak checking is off (the
# interpreter's own allocations at exit are not ours).
if(CMAKE_CROSSCOMPILING)   # the host's Python cannot load a library built for another CPU
  return()
endif()
set(_py ${PROJECT_SOURCE_DIR}/.venv/bin/python)
set(_py_env LIBINFER_LIBRARY=$<TARGET_FILE:infer> INFER_CLI=$<TARGET_FILE:infer-cli>)
if(INFER_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
                  OUTPUT_VARIABLE _asan OUTPUT_STRIP_TRAILING_WHITESPACE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libubsan.so
                  OUTPUT_VARIABLE _ubsan OUTPUT_STRIP_TRAILING_WHITESPACE)
  list(APPEND _py_env "LD_PRELOAD=${_asan} ${_ubsan}" ASAN_OPTIONS=detect_leaks=0)
endif()
set(_pytest ${CMAKE_COMMAND} -E env ${_py_env} ${_py} -m pytest -q -p no:cacheprovider)
add_test(NAME python
  COMMAND ${_pytest} ${PROJECT_SOURCE_DIR}/python/tests
          --ignore=${PROJECT_SOURCE_DIR}/python/tests/test_pip_install.py
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
add_test(NAME python_pip_install
  COMMAND ${_pytest} ${PROJECT_SOURCE_DIR}/python/tests/test_pip_install.py
  WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(python python_pip_install PROPERTIES TIMEOUT 300 LABELS python)
