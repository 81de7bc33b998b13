# Install test: `cmake --install` into a scratch prefix, then build and run a tiny
# program against the installed library with pkg-config (see tests/install/run.cmake).
find_program(INFER_PKG_CONFIG pkg-config)
if(INFER_PKG_CONFIG)
  set(INFER_INSTALL_TEST_MODEL "${CMAKE_CURRENT_SOURCE_DIR}/data/models/stories260K.gguf")
  if(NOT EXISTS "${INFER_INSTALL_TEST_MODEL}")
    set(INFER_INSTALL_TEST_MODEL "${PROJECT_SOURCE_DIR}/../shared/testdata/models/stories260K.gguf")
  endif()
  set(INFER_INSTALL_TEST_FLAGS "")
  if(INFER_SANITIZE)   # an instrumented library needs an instrumented program
    set(INFER_INSTALL_TEST_FLAGS "-fsanitize=address,undefined")
  endif()
  add_test(NAME install_pkgconfig
    COMMAND ${CMAKE_COMMAND}
      -DBINARY_DIR=${PROJECT_BINARY_DIR}
      -DSOURCE_DIR=${CMAKE_CURRENT_SOURCE_DIR}/install
      -DWORK_DIR=${CMAKE_CURRENT_BINARY_DIR}/install-test
      -DCC=${CMAKE_C_COMPILER}
      -DPKG_CONFIG=${INFER_PKG_CONFIG}
      -DMODEL=${INFER_INSTALL_TEST_MODEL}
      -DEXAMPLES_DIR=${PROJECT_SOURCE_DIR}/examples
      "-DEXTRA_FLAGS=${INFER_INSTALL_TEST_FLAGS}"
      -P ${CMAKE_CURRENT_SOURCE_DIR}/install/run.cmake)
  set_tests_properties(install_pkgconfig PROPERTIES TIMEOUT 300)
else()
  message(WARNING "pkg-config not found: the install test is not registered")
endif()
