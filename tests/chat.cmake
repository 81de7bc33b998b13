# infer-chat scripted sessions (stdin not a terminal: one user turn per line).
# Included by tests/CMakeLists.txt to register the tests; run with `cmake -P` (the
# CHAT_* variables set) to perform one session and check its transcript.
#
#   chat_two_turns        synth-qwen2 (ChatML by architecture): two replies, a tokens/s
#                         line per reply, the second turn reuses the cached first turn
#   chat_harmony_prompt   synth-gptoss (Harmony by architecture): the rendered prompts are
#                         well-formed Harmony, the first reply kept as the final channel
#   chat_commands         stories260K (no template: ChatML with a warning): /reset,
#                         /system, an unknown command, /quit ends the session early
#   chat_context_full     a 64-token context: overflow is reported, /reset offered, exit 0
#   chat_interrupt        SIGINT during a long reply stops that reply only; the next turn
#                         is answered and the session ends normally (needs sh and mkfifo)
if(NOT CMAKE_SCRIPT_MODE_FILE)
  set(_chat_models ${CMAKE_CURRENT_SOURCE_DIR}/data/models)
  set(_chat_cases two_turns harmony_prompt commands context_full)
  find_program(INFER_MKFIFO mkfifo)
  if(INFER_MKFIFO AND UNIX)
    list(APPEND _chat_cases interrupt)
  endif()
  foreach(t ${_chat_cases})
    add_test(NAME chat_${t}
      COMMAND ${CMAKE_COMMAND} -DCHAT_CASE=${t} -DCHAT_TOOL=$<TARGET_FILE:infer-chat>
              -DCHAT_MODELS=${_chat_models} -DCHAT_WORK=${CMAKE_CURRENT_BINARY_DIR}/chat_${t}
              -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(chat_${t} PROPERTIES TIMEOUT 300 LABELS chat)
  endforeach()
  return()
endif()

# ---------------------------------------------------------------- script mode

function(chat_run model input)
  file(MAKE_DIRECTORY ${CHAT_WORK})
  file(WRITE ${CHAT_WORK}/input.txt "${input}")
  execute_process(
    COMMAND ${CHAT_TOOL} -m ${CHAT_MODELS}/${model} -t 2 -c 512 -n 12 --seed 7 --backend cpu ${ARGN}
    INPUT_FILE ${CHAT_WORK}/input.txt
    OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 240)
  message(STATUS "---- stdout ----\n${out}\n---- stderr ----\n${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "infer-chat exited with ${rc}")
  endif()
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
endfunction()

function(chat_expect text what)
  string(FIND "${text}" "${what}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "expected to find: ${what}")
  endif()
endfunction()

# The per-reply statistics lines, as a list of "NEW;REUSED;REPLY" triples.
set(_stats_re "\\[prompt: ([0-9]+) new tokens \\(([0-9]+) reused\\) in [0-9.]+ s, [0-9.]+ tok/s \\| reply: ([0-9]+) tokens in [0-9.]+ s, [0-9.]+ tok/s\\]")
function(chat_stats text out_count)
  string(REGEX MATCHALL "${_stats_re}" lines "${text}")
  list(LENGTH lines n)
  set(${out_count} ${n} PARENT_SCOPE)
  set(i 0)
  foreach(l ${lines})
    string(REGEX MATCH "${_stats_re}" _ "${l}")
    set(new_${i} ${CMAKE_MATCH_1} PARENT_SCOPE)
    set(reused_${i} ${CMAKE_MATCH_2} PARENT_SCOPE)
    set(reply_${i} ${CMAKE_MATCH_3} PARENT_SCOPE)
    math(EXPR i "${i} + 1")
  endforeach()
endfunction()

if(CHAT_CASE STREQUAL "two_turns")
  chat_run(synth-qwen2-Q4_K_M.gguf "Hello there\nTell me more\n")
  chat_expect("${err}" "template chatml")
  chat_stats("${err}" n)
  if(NOT n EQUAL 2)
    message(FATAL_ERROR "expected 2 replies with statistics, found ${n}")
  endif()
  if(NOT reused_0 EQUAL 0 OR new_0 LESS 5)
    message(FATAL_ERROR "first turn: expected a fresh prompt, got ${new_0} new / ${reused_0} reused")
  endif()
  # The second render starts with the whole first prompt: it must come from the cache.
  if(reused_1 LESS new_0)
    message(FATAL_ERROR "second turn reused ${reused_1} tokens, expected at least the first prompt's ${new_0}")
  endif()
  string(FIND "${err}" "warning:" w)
  if(NOT w EQUAL -1)
    message(FATAL_ERROR "unexpected warning for a qwen2 model")
  endif()

elseif(CHAT_CASE STREQUAL "harmony_prompt")
  chat_run(synth-gptoss-MXFP4_MOE.gguf "first question\nsecond question\n" --verbose-prompt)
  chat_expect("${err}" "template harmony")
  chat_stats("${err}" n)
  if(NOT n EQUAL 2)
    message(FATAL_ERROR "expected 2 replies with statistics, found ${n}")
  endif()
  chat_expect("${err}" "<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.\nKnowledge cutoff: 2024-06\nCurrent date: ")
  chat_expect("${err}" "<|end|><|start|>user<|message|>first question<|end|><|start|>assistant\n[end of prompt]")
  # Turn 2: the first reply (its final channel; this vocabulary has no channel tokens,
  # so it is empty) is in history, closed by <|end|>, followed by the new question.
  chat_expect("${err}" "<|start|>user<|message|>first question<|end|><|start|>assistant<|channel|>final<|message|>")
  chat_expect("${err}" "<|end|><|start|>user<|message|>second question<|end|><|start|>assistant\n[end of prompt]")

elseif(CHAT_CASE STREQUAL "commands")
  chat_run(stories260K.gguf "Once upon a time\n/system Tell short stories.\nThe cat\n/bogus\n/reset\nA dog\n/quit\nnever answered\n" --temp 0)
  chat_expect("${err}" "warning: the model's chat template is missing or not recognized; using ChatML")
  chat_expect("${err}" "[system message set")
  chat_expect("${err}" "commands: /reset")
  chat_expect("${err}" "[conversation reset]")
  chat_stats("${err}" n)
  if(NOT n EQUAL 3)
    message(FATAL_ERROR "expected 3 replies (the line after /quit unanswered), found ${n}")
  endif()
  # The system message goes in front of the conversation: turn 2 reuses at most the
  # start of the first prompt (BOS and the turn header), not the whole first turn;
  # after /reset the cache is empty.
  if(NOT reused_1 LESS new_0 OR NOT reused_2 EQUAL 0)
    message(FATAL_ERROR "expected partial reuse after /system (${reused_1} < ${new_0}) and none after /reset (${reused_2})")
  endif()
  if(reply_0 LESS 1)
    message(FATAL_ERROR "stories260K gave an empty first reply")
  endif()

elseif(CHAT_CASE STREQUAL "context_full")
  set(long "one two three four five six seven eight nine ten eleven twelve thirteen fourteen")
  chat_run(stories260K.gguf "hi\n${long} ${long} ${long}\n/reset\nhi\n" -c 64 --temp 0)
  chat_expect("${err}" "[context full")
  chat_expect("${err}" "Type /reset to start over")
  chat_stats("${err}" n)
  if(NOT n EQUAL 2)
    message(FATAL_ERROR "expected 2 replies (the overflowing turn refused), found ${n}")
  endif()
elseif(CHAT_CASE STREQUAL "interrupt")
  # A fifo feeds stdin so the script decides when each line arrives: the first turn asks
  # for an endless story, SIGINT is sent once its text starts streaming, then a second
  # turn and /quit follow.
  file(REMOVE_RECURSE ${CHAT_WORK})
  file(MAKE_DIRECTORY ${CHAT_WORK})
  set(script [=[
w="$1"; tool="$2"; model="$3"
mkfifo "$w/in" || exit 90
"$tool" -m "$model" -t 2 -c 8192 -n 3000 --temp 1 --seed 11 --backend cpu <"$w/in" >"$w/out" 2>"$w/err" &
pid=$!
exec 3>"$w/in"
i=0; until grep -q '^loaded' "$w/err"; do i=$((i+1)); [ $i -gt 600 ] && exit 91; sleep 0.1; done
echo "Once upon a time" >&3
i=0; until [ -s "$w/out" ]; do i=$((i+1)); [ $i -gt 600 ] && exit 92; sleep 0.05; done
kill -INT $pid
i=0; until grep -q 'reply stopped' "$w/err"; do i=$((i+1)); [ $i -gt 600 ] && exit 93; sleep 0.05; done
echo "The cat" >&3
echo "/quit" >&3
exec 3>&-
wait $pid
]=])
  execute_process(COMMAND sh -c "${script}" sh ${CHAT_WORK} ${CHAT_TOOL} ${CHAT_MODELS}/stories260K.gguf
    RESULT_VARIABLE rc TIMEOUT 240)
  file(READ ${CHAT_WORK}/err err)
  file(READ ${CHAT_WORK}/out out)
  message(STATUS "---- stdout ----\n${out}\n---- stderr ----\n${err}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "session script ended with ${rc} (90-93: a step timed out)")
  endif()
  chat_expect("${err}" "[reply stopped]")
  chat_stats("${err}" n)
  if(NOT n EQUAL 2)
    message(FATAL_ERROR "expected 2 replies (the interrupted one and the next), found ${n}")
  endif()
  # A large context leaves the script's polling (tens of ms, longer on a loaded machine)
  # far from decisive: stories260K streams thousands of tokens a second.
  if(NOT reply_0 LESS 2500)   # unstopped, it would run to the 3000-token limit
    message(FATAL_ERROR "the interrupted reply ran to ${reply_0} tokens")
  endif()
else()
  message(FATAL_ERROR "unknown CHAT_CASE '${CHAT_CASE}'")
endif()
