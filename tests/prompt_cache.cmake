# infer-cli --prompt-cache: the first run evaluates the whole prompt and writes the
# session; a second run whose prompt extends the first reuses the saved tokens, evaluates
# only the new ones, and prints exactly what a run without the cache prints (greedy);
# another model's session, a FIFO or a directory as the file end in exit 1 with the reason;
# -c beyond the available memory is refused with the size named.
if(NOT CMAKE_SCRIPT_MODE_FILE)
  if(TARGET infer-cli)
    add_test(NAME cli_prompt_cache
      COMMAND ${CMAKE_COMMAND} -DPC_CLI=$<TARGET_FILE:infer-cli>
              -DPC_MODELS=${CMAKE_CURRENT_SOURCE_DIR}/data/models
              -DPC_WORK=${CMAKE_CURRENT_BINARY_DIR}/prompt_cache -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(cli_prompt_cache PROPERTIES TIMEOUT 120)
  endif()
  return()
endif()

function(pc_run model prompt)
  execute_process(
    COMMAND ${PC_CLI} -m ${PC_MODELS}/${model} -p "${prompt}" -n 12 --temp 0 -t 2 -c 256 --backend cpu ${ARGN}
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
  message(STATUS "---- ${model} ${ARGN}\n${out}\n${err}")
  set(pc_out "${out}" PARENT_SCOPE)
  set(pc_err "${err}" PARENT_SCOPE)
  set(pc_rc "${rc}" PARENT_SCOPE)
endfunction()

function(pc_expect what)
  if(NOT pc_err MATCHES "${what}")
    message(FATAL_ERROR "stderr lacks '${what}'")
  endif()
endfunction()

file(REMOVE_RECURSE ${PC_WORK})
file(MAKE_DIRECTORY ${PC_WORK})
set(cache ${PC_WORK}/prompt.session)
set(p1 "Once upon a time, there was a little girl")
set(p2 "Once upon a time, there was a little girl named Lily who")

pc_run(stories260K.gguf "${p1}" --prompt-cache ${cache})
pc_expect("reused 0 of ([0-9]+) prompt tokens, evaluated ([0-9]+)")
pc_expect("saved [0-9]+ tokens to")
pc_expect("KV cache: [0-9.]+ MiB reserved for 256 positions")
if(NOT EXISTS ${cache})
  message(FATAL_ERROR "no session file written")
endif()

pc_run(stories260K.gguf "${p2}")
set(plain "${pc_out}")
pc_run(stories260K.gguf "${p2}" --prompt-cache ${cache})
if(NOT pc_rc EQUAL 0)
  message(FATAL_ERROR "exit ${pc_rc}")
endif()
string(REGEX MATCH "reused ([0-9]+) of ([0-9]+) prompt tokens, evaluated ([0-9]+)" m "${pc_err}")
set(reused ${CMAKE_MATCH_1})
math(EXPR rest "${CMAKE_MATCH_2} - ${CMAKE_MATCH_1}")
if(NOT m OR reused LESS 5 OR NOT CMAKE_MATCH_3 EQUAL rest OR CMAKE_MATCH_3 GREATER 8)
  message(FATAL_ERROR "expected most of the prompt reused: '${m}'")
endif()
if(NOT pc_out STREQUAL plain)
  message(FATAL_ERROR "output with the prompt cache differs from without:\n${pc_out}\nvs\n${plain}")
endif()

# The same prompt again: everything but the last token reused, nothing saved.
pc_run(stories260K.gguf "${p2}" --prompt-cache ${cache})
string(REGEX MATCH "reused ([0-9]+) of ([0-9]+) prompt tokens, evaluated 1" m "${pc_err}")
if(NOT m OR pc_err MATCHES "saved")
  message(FATAL_ERROR "expected all but one token reused and no save")
endif()

# Another model's session, and a FIFO and a directory as the file: exit 1 with the reason,
# the file left as it was.
pc_run(synth-llama-Q4_0.gguf "${p2}" --prompt-cache ${cache})
pc_expect("error: .*prompt.session.*another model")
if(NOT pc_rc EQUAL 1)
  message(FATAL_ERROR "exit ${pc_rc}, expected 1")
endif()
find_program(MKFIFO mkfifo)
set(bad_paths ${PC_WORK})
if(MKFIFO)
  execute_process(COMMAND ${MKFIFO} ${PC_WORK}/fifo)
  list(APPEND bad_paths ${PC_WORK}/fifo)
endif()
foreach(bad ${bad_paths})
  pc_run(stories260K.gguf "${p2}" --prompt-cache ${bad})
  pc_expect("error: .*not a regular file")
  if(NOT pc_rc EQUAL 1)
    message(FATAL_ERROR "exit ${pc_rc} for ${bad}, expected 1")
  endif()
endforeach()
if(MKFIFO AND NOT IS_SYMLINK ${PC_WORK}/fifo AND EXISTS ${PC_WORK}/fifo)
  execute_process(COMMAND test -p ${PC_WORK}/fifo RESULT_VARIABLE not_fifo)
  if(NOT not_fifo EQUAL 0)
    message(FATAL_ERROR "the FIFO was replaced")
  endif()
endif()

# A context whose cache cannot fit in memory: exit 1 naming the size and the remedies.
execute_process(COMMAND ${PC_CLI} -m ${PC_MODELS}/stories260K.gguf -p hi -n 1 -c 1000000000 --backend cpu
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
message(STATUS "---- -c 1000000000\n${err}")
if(NOT rc EQUAL 1 OR NOT err MATCHES "needs [0-9.]+ MiB.*-c.*--kv-f16")
  message(FATAL_ERROR "an impossible -c was not refused cleanly (exit ${rc})")
endif()
