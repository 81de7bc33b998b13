# infer-chat --tools (scripted sessions; one input line per user turn or tool result):
#   chat_tools_bad_file    a --tools file that is not a JSON array: error before loading
#   chat_tools_round_trip  the real Qwen2.5-Coder-1.5B calls get_weather, the result line
#                          is fed back, the model answers with it (a real-model test: skipped
#                          unless INFER_REAL_MODELS is set, as scripts/test-real-models.sh
#                          does, and the model is fetched: scripts/fetch-models.sh)
if(NOT CMAKE_SCRIPT_MODE_FILE)
  foreach(t bad_file round_trip)
    add_test(NAME chat_tools_${t}
      COMMAND ${CMAKE_COMMAND} -DCASE=${t} -DTOOL=$<TARGET_FILE:infer-chat>
              -DWORK=${CMAKE_CURRENT_BINARY_DIR}/chat_tools_${t} -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(chat_tools_${t} PROPERTIES TIMEOUT 600 LABELS chat SKIP_REGULAR_EXPRESSION "SKIPPED:")
  endforeach()
  return()
endif()

file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/tools.json [=[
[{"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.",
  "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name"}},
                 "required": ["city"]}}}]
]=])
if(CASE STREQUAL "bad_file")
  file(WRITE ${WORK}/bad.json "{\"not\": \"a list\"}")
  execute_process(COMMAND ${TOOL} -m unused.gguf --tools ${WORK}/bad.json RESULT_VARIABLE rc ERROR_VARIABLE err)
  string(FIND "${err}" "expected a JSON array of tools" at)
  if(rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "expected a clear error, got ${rc}: ${err}")
  endif()
elseif(CASE STREQUAL "round_trip")
  if(NOT DEFINED ENV{INFER_REAL_MODELS})
    message("SKIPPED: real-model test (INFER_REAL_MODELS unset; scripts/test-real-models.sh runs it)")
    return()
  endif()
  if(DEFINED ENV{INFER_MODELS})
    set(models $ENV{INFER_MODELS})
  else()
    set(models $ENV{HOME}/.cache/libinfer/models)
  endif()
  set(model ${models}/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf)
  if(NOT EXISTS ${model})
    message("SKIPPED: ${model} is absent")
    return()
  endif()
  file(WRITE ${WORK}/input.txt "What is the weather in Paris right now?\n{\"temperature_celsius\": 17, \"condition\": \"light rain\"}\n")
  execute_process(
    COMMAND ${TOOL} -m ${model} --tools ${WORK}/tools.json -t 2 -c 1024 -n 64 --temp 0 --backend cpu
            --system "You are a helpful assistant. Use tools when needed; once you have a tool result, answer the user in one plain sentence."
    INPUT_FILE ${WORK}/input.txt OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 540)
  message(STATUS "---- stdout ----\n${out}\n---- stderr ----\n${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "infer-chat exited with ${rc}")
  endif()
  string(REGEX MATCH "\\[tool call [A-Za-z0-9]+\\] get_weather {\"city\":\"Paris[^\n]*}" call "${err}")
  if(call STREQUAL "")
    message(FATAL_ERROR "no get_weather call for Paris was parsed")
  endif()
  string(REGEX MATCHALL "prompt: [0-9]+ new tokens" replies "${err}")
  list(LENGTH replies n)
  if(NOT n EQUAL 2)
    message(FATAL_ERROR "expected 2 replies (the call, then the answer), found ${n}")
  endif()
  # the answer (after the call's line) uses the tool's result
  string(FIND "${out}" "17" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the answer does not use the tool result (17)")
  endif()
endif()
