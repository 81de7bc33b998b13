# infer-pull: the libcurl downloader (tools/pull/) is linked into infer-pull only; the
# model-name resolver in tools/common reads the catalog, installed to
# share/libinfer/catalog.json and found in the source tree when run from the build tree.
include(GNUInstallDirs)
target_compile_definitions(infer_tool_common PRIVATE
  INFER_CATALOG_INSTALLED="${CMAKE_INSTALL_FULL_DATADIR}/libinfer/catalog.json"
  INFER_CATALOG_SOURCE="${CMAKE_CURRENT_SOURCE_DIR}/tools/catalog.json")
install(FILES ${CMAKE_CURRENT_SOURCE_DIR}/tools/catalog.json DESTINATION ${CMAKE_INSTALL_DATADIR}/libinfer)
if(TARGET infer-pull)
  file(GLOB INFER_PULL_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/tools/pull/*.c)
  target_sources(infer-pull PRIVATE ${INFER_PULL_SOURCES})
  target_include_directories(infer-pull PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/tools/pull)
  target_link_libraries(infer-pull PRIVATE CURL::libcurl)
endif()
