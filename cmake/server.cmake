# infer-server (tools/server/*.c): a client of include/infer.h only, on libmicrohttpd
# (HTTP) and jansson (JSON). Debian: libmicrohttpd-dev, libjansson-dev.
# A cross build may lack the target's libmicrohttpd (Debian: libmicrohttpd-dev:arm64):
# there the server is left out with a message; a native build still requires it.
if(CMAKE_CROSSCOMPILING)
  pkg_check_modules(MHD IMPORTED_TARGET libmicrohttpd)
  if(NOT MHD_FOUND)
    message(WARNING "cross build: libmicrohttpd for ${CMAKE_SYSTEM_PROCESSOR} not found: infer-server is not built")
    return()
  endif()
else()
  pkg_check_modules(MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
endif()
file(GLOB INFER_SERVER_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/server/*.c)
add_executable(infer-server ${INFER_SERVER_SOURCES})
target_link_libraries(infer-server PRIVATE infer_tool_common infer_static PkgConfig::MHD PkgConfig::JANSSON Threads::Threads)
target_include_directories(infer-server PRIVATE ${PROJECT_SOURCE_DIR}/tools/common)
target_compile_options(infer-server PRIVATE ${INFER_WARNINGS})
target_compile_definitions(infer-server PRIVATE _GNU_SOURCE)
install(TARGETS infer-server RUNTIME DESTINATION bin)
