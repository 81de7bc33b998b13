# CMake config package installed beside infer.pc, so that a user's project can say
#   find_package(infer 0.1 REQUIRED)
#   target_link_libraries(app PRIVATE infer::infer)          # libinfer.so
#   target_link_libraries(app PRIVATE infer::infer_static)   # libinfer.a and its dependencies
include(CMakePackageConfigHelpers)
set(INFER_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/infer)
install(EXPORT inferTargets NAMESPACE infer:: DESTINATION ${INFER_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/inferConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/inferConfig.cmake INSTALL_DESTINATION ${INFER_CMAKE_DIR})
# The soname carries the major version (libinfer.so.0): any 0.x satisfies a request for 0.y.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/inferConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/inferConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/inferConfigVersion.cmake
  DESTINATION ${INFER_CMAKE_DIR})
