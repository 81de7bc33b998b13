# test_server_reply (tests/unit/test_server_reply.c) checks infer-server's reply assembly:
# it is built with the server's own reply, job and util sources.
target_sources(test_server_reply PRIVATE ${PROJECT_SOURCE_DIR}/tools/server/reply.c
  ${PROJECT_SOURCE_DIR}/tools/server/job.c ${PROJECT_SOURCE_DIR}/tools/server/util.c)
target_include_directories(test_server_reply PRIVATE ${PROJECT_SOURCE_DIR}/tools/server ${PROJECT_SOURCE_DIR}/tools/common)
target_link_libraries(test_server_reply PRIVATE infer_tool_common PkgConfig::JANSSON Threads::Threads)
