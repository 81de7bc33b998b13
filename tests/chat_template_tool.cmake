# infer-template on the carried chat-template corpus (tests/data/chat-templates, from jinja2):
#   template_tool_render   the output equals jinja2's rendering byte for byte, exit 0
#   template_tool_error    a template that raises: "error: raise_exception: ..." on stderr, exit 1
#   template_tool_usage    bad arguments: exit 2
if(NOT CMAKE_SCRIPT_MODE_FILE)
  foreach(t render error usage)
    add_test(NAME template_tool_${t}
      COMMAND ${CMAKE_COMMAND} -DCASE=${t} -DTOOL=$<TARGET_FILE:infer-template>
              -DDATA=${CMAKE_CURRENT_SOURCE_DIR}/data/chat-templates -DWORK=${CMAKE_CURRENT_BINARY_DIR}/template_tool
              -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(template_tool_${t} PROPERTIES TIMEOUT 60 LABELS chat)
  endforeach()
  return()
endif()

file(MAKE_DIRECTORY ${WORK})
if(CASE STREQUAL "render")
  set(name Qwen-Qwen2.5-7B-Instruct)
  execute_process(COMMAND ${TOOL} ${DATA}/templates/${name}.jinja ${DATA}/conversations/tool_call_dict_args.json
                          --date 2026-01-15
    OUTPUT_FILE ${WORK}/out.txt ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "infer-template exited with ${rc}: ${err}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/out.txt
                          ${DATA}/expected/${name}/tool_call_dict_args.txt RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    message(FATAL_ERROR "output differs from jinja2's")
  endif()
  # the model-independent strftime_now date
  execute_process(COMMAND ${TOOL} ${DATA}/templates/meta-llama-Llama-3.2-3B-Instruct.jinja
                          ${DATA}/conversations/user_only.json --bos-token "<|begin_of_text|>" --date 2026-01-15
    OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  string(FIND "${out}" "Today Date: 15 Jan 2026" at)
  if(NOT rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "--date not applied: ${out}")
  endif()
elseif(CASE STREQUAL "error")
  execute_process(COMMAND ${TOOL} ${DATA}/templates/google-gemma-2-2b-it.jinja ${DATA}/conversations/system_user.json
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  file(READ ${DATA}/expected/google-gemma-2-2b-it/system_user.error expected)
  if(NOT rc EQUAL 1 OR NOT out STREQUAL "" OR NOT err STREQUAL "error: ${expected}\n")
    message(FATAL_ERROR "expected exit 1 and 'error: ${expected}', got ${rc}: '${out}' / '${err}'")
  endif()
elseif(CASE STREQUAL "usage")
  execute_process(COMMAND ${TOOL} only-one-arg.jinja RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(NOT rc EQUAL 2)
    message(FATAL_ERROR "expected exit 2 for a missing argument, got ${rc}")
  endif()
endif()
