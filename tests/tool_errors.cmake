# Bad invocations of every tool, table-driven (issue 17): each row runs one tool and
# expects an exit status and a message on stdout/stderr. Error rows expect 1 (bad file,
# model or text) or 2 (usage error), a message, and nothing from the sanitizers: in the
# ASan+UBSan build the tests run with detect_leaks=1, so a leak on an error path makes
# the tool exit 23 (or abort) and the row fails. Every row has a 60 s limit: "refused at
# once" for FIFOs (a FIFO with no writer used to block forever), devices and sockets.
#
# Row format: "TOOL|STATUS|REGEX|ARGS" (ARGS split like a shell command line; no "[", "]"
# or ";" anywhere in a row: CMake lists give them a meaning). In ARGS:
#   @MODEL@  stories260K           @FIFO@  a FIFO with no writer   @DIR@  a directory
#   @SOCK@   a unix socket (made by tests/common/make_socket.c)     @ZERO@ /dev/zero
#   @BAD@    a file that is not GGUF        @SHORT@ a 5-word text  @EMPTY@ an empty file
#   @WORK@   the test's scratch directory
#   @SPLIT@  split/synth-llama-Q8_0-00001-of-00003.gguf (llama.cpp's gguf-split, 3 parts)
#   @LONELY@ that first part copied alone into a folder (parts 2 and 3 missing)
# Registered per tool as tool_errors_<tool>; `cmake -P` with TE_* set runs one tool's rows.

set(_te_rows
  # ---- infer-cli
  "infer-cli|1|nope.gguf': No such file|-m @WORK@/nope.gguf -p x"
  "infer-cli|1|is a FIFO \\(named pipe\\), not a regular file|-m @FIFO@ -p x"
  "infer-cli|1|is a directory, not a regular file|-m @DIR@ -p x"
  "infer-cli|1|is a character device, not a regular file|-m @ZERO@ -p x"
  "infer-cli|1|is a socket, not a regular file|-m @SOCK@ -p x"
  "infer-cli|1|not a GGUF file|-m @BAD@ -p x"
  "infer-cli|1|is a FIFO|-m @MODEL@ --tokens-file @FIFO@ --logits-out @WORK@/o.f32"
  "infer-cli|1|is a character device|-m @MODEL@ --tokens-file @ZERO@ --logits-out @WORK@/o.f32"
  "infer-cli|1|no token ids read|-m @MODEL@ --tokens-file @EMPTY@ --logits-out @WORK@/o.f32"
  "infer-cli|1|cannot write|-m @MODEL@ --tokens-file @SHORT_IDS@ --logits-out @DIR@"
  "infer-cli|1|does not fit in the context|-m @MODEL@ -p \"Once upon a time there was\" -c 4 -t 1"
  "infer-cli|1|session file: .* is a FIFO|-m @MODEL@ -p Once -n 1 --prompt-cache @FIFO@"
  "infer-cli|1|session file: .* is a directory|-m @MODEL@ -p Once -n 1 --prompt-cache @DIR@"
  "infer-cli|1|session file: .* is a character device|-m @MODEL@ -p Once -n 1 --prompt-cache @ZERO@"
  "infer-cli|1|session file: .* is a socket|-m @MODEL@ -p Once -n 1 --prompt-cache @SOCK@"
  "infer-cli|2|-c: '4000000000' is out of range|-m @MODEL@ -p x -c 4000000000"
  "infer-cli|2|-c: '-1' is out of range|-m @MODEL@ -p x -c -1"
  "infer-cli|2|-t: '0' is out of range|-m @MODEL@ -p x -t 0"
  "infer-cli|2|-n: '-2' is out of range|-m @MODEL@ -p x -n -2"
  "infer-cli|2|-n: '12abc' is not an integer|-m @MODEL@ -p x -n 12abc"
  "infer-cli|2|--temp: 'hot' is not a number|-m @MODEL@ -p x --temp hot"
  "infer-cli|2|--top-p: '1.5' is out of range|-m @MODEL@ -p x --top-p 1.5"
  "infer-cli|2|--seed: '-1' is not a non-negative integer|-m @MODEL@ -p x --seed -1"
  "infer-cli|2|--backend: unknown backend 'gpu'|-m @MODEL@ -p x --backend gpu"
  "infer-cli|2|-c needs a value|-m @MODEL@ -p x -c"
  "infer-cli|2|unknown or incomplete option '--bogus'|-m @MODEL@ -p x --bogus"
  "infer-cli|2|are required|-p x"
  # ---- infer-chat
  "infer-chat|1|is a FIFO|-m @FIFO@"
  "infer-chat|1|is a directory|-m @DIR@"
  "infer-chat|1|is a character device|-m @ZERO@"
  "infer-chat|1|is a socket|-m @SOCK@"
  "infer-chat|1|not a GGUF file|-m @BAD@"
  "infer-chat|2|-c: '4000000000' is out of range|-m @MODEL@ -c 4000000000"
  "infer-chat|2|-n: 'many' is not an integer|-m @MODEL@ -n many"
  "infer-chat|2|--min-p: '-0.5' is out of range|-m @MODEL@ --min-p -0.5"
  "infer-chat|2|-m MODEL is required|--temp 0"
  # ---- infer-perplexity
  "infer-perplexity|1|is a FIFO|-m @MODEL@ -f @FIFO@ -c 16"
  "infer-perplexity|1|is a directory|-m @MODEL@ -f @DIR@ -c 16"
  "infer-perplexity|1|is a character device|-m @MODEL@ -f @ZERO@ -c 16"
  "infer-perplexity|1|is a socket|-m @MODEL@ -f @SOCK@ -c 16"
  "infer-perplexity|1|No such file|-m @MODEL@ -f @WORK@/nope.txt -c 16"
  "infer-perplexity|1|is a FIFO|-m @FIFO@ -f @SHORT@ -c 16"
  "infer-perplexity|1|not a GGUF file|-m @BAD@ -f @SHORT@ -c 16"
  "infer-perplexity|1|need at least 2 \\* n_ctx = 32|-m @MODEL@ -f @SHORT@ -c 16"
  "infer-perplexity|1|need at least 2 \\* n_ctx|-m @MODEL@ -f @EMPTY@ -c 16"
  "infer-perplexity|1|need at least|-m @MODEL@ -f @SHORT@ -c 4 --chunks 0"
  "infer-perplexity|2|-c: 2 is out of range|-m @MODEL@ -f @SHORT@ -c 2"
  "infer-perplexity|2|-c: '99999999999' is out of range|-m @MODEL@ -f @SHORT@ -c 99999999999"
  "infer-perplexity|2|--chunks: 'x' is not an integer|-m @MODEL@ -f @SHORT@ --chunks x"
  "infer-perplexity|2|are required|-m @MODEL@"
  # ---- infer-tokenize
  "infer-tokenize|1|is a FIFO|-m @FIFO@ -p x"
  "infer-tokenize|1|is a directory|-m @DIR@ -p x"
  "infer-tokenize|1|is a character device|-m @ZERO@ -p x"
  "infer-tokenize|1|is a socket|-m @SOCK@ -p x"
  "infer-tokenize|1|not a GGUF file|-m @BAD@ -p x"
  "infer-tokenize|1|is a FIFO|-m @MODEL@ -f @FIFO@"
  "infer-tokenize|1|is a directory|-m @MODEL@ -f @DIR@"
  "infer-tokenize|1|is a character device|-m @MODEL@ -f @ZERO@"
  "infer-tokenize|1|is a socket|-m @MODEL@ -f @SOCK@"
  "infer-tokenize|2|are required|-m @MODEL@"
  # ---- infer-gguf
  "infer-gguf|1|is a FIFO|@FIFO@"
  "infer-gguf|1|is a directory|@DIR@"
  "infer-gguf|1|is a character device|@ZERO@"
  "infer-gguf|1|is a socket|@SOCK@"
  "infer-gguf|1|not a GGUF file|@BAD@"
  "infer-gguf|2|unknown option '--bogus'|@MODEL@ --bogus"
  "infer-gguf|0|parts: +3 ..*part 3: .*synth-llama-Q8_0-00003-of-00003.gguf +.732640 bytes, 3 metadata entries, 6 tensors|@SPLIT@"
  "infer-gguf|0|\"n_tensors\": 30,.*\"part\": 3}.*\"parts\": ..*\"part\": 3, \"file\": |@SPLIT@ --json"
  "infer-gguf|1|split part 2 of 3 .*lonely/synth-llama-Q8_0-00002-of-00003.gguf.*No such file|@LONELY@"
  "infer-cli|1|split part 2 of 3 .*lonely/synth-llama-Q8_0-00002-of-00003.gguf.*No such file|-m @LONELY@ -p x"
  # ---- infer-bench
  "infer-bench|1|is a FIFO|-m @FIFO@ -p 8 -n 0 -r 1"
  "infer-bench|1|is a directory|-m @DIR@ -p 8 -n 0 -r 1"
  "infer-bench|1|is a character device|-m @ZERO@ -p 8 -n 0 -r 1"
  "infer-bench|1|is a socket|-m @SOCK@ -p 8 -n 0 -r 1"
  "infer-bench|1|context 4 too small|-m @MODEL@ -p 8 -n 0 -r 1 -c 4"
  "infer-bench|2|-t: '0' is out of range|-m @MODEL@ -t 0"
  "infer-bench|2|-p: 'abc' is not an integer|-m @MODEL@ -p abc"
  "infer-bench|2|-r: '0' is out of range|-m @MODEL@ -r 0"
  "infer-bench|2|-c: '4000000000' is out of range|-m @MODEL@ -c 4000000000"
  "infer-bench|2|-ngl: 'half' is not an integer|-m @MODEL@ -ngl half"
  "infer-bench|2|--n-cpu-moe: '-3' is out of range|-m @MODEL@ --n-cpu-moe -3"
  "infer-bench|0|tg2|-m @MODEL@ -p 0 -n 2 -r 1 -t 1 -ngl 0 --n-cpu-moe 2"
  # ---- -ngl / --n-cpu-moe (issue 15): N, all, -1 (all) and auto; nothing else
  "infer-cli|2|-ngl: 'lots' is not an integer|-m @MODEL@ -p x -ngl lots"
  "infer-cli|2|-ngl: '-2' is out of range|-m @MODEL@ -p x -ngl -2"
  "infer-cli|2|-ngl needs a value|-m @MODEL@ -p x -ngl"
  "infer-cli|2|--n-cpu-moe: '-1' is out of range|-m @MODEL@ -p x --n-cpu-moe -1"
  "infer-cli|2|--n-gpu-layers: '1.5' is not an integer|-m @MODEL@ -p x --n-gpu-layers 1.5"
  "infer-chat|2|-ngl: 'most' is not an integer|-m @MODEL@ -ngl most"
  "infer-perplexity|2|--n-cpu-moe: 'x' is not an integer|-m @MODEL@ -f @SHORT@ --n-cpu-moe x"
  "infer-cli|0|generation: .* tokens in|-m @MODEL@ -p Once -n 2 -t 1 -ngl all --n-cpu-moe 1"
  "infer-cli|0|generation: .* tokens in|-m @MODEL@ -p Once -n 2 -t 1 -ngl -1"
  "infer-cli|0|generation: .* tokens in|-m @MODEL@ -p Once -n 2 -t 1 -ngl 99 --backend cpu"
  "infer-cli|0|generation: .* tokens in|-m @MODEL@ -p Once -n 2 -t 1 --n-gpu-layers auto"
  # ---- infer-template
  "infer-template|1|nope.jinja': No such file|@WORK@/nope.jinja @SHORT@"
  "infer-template|1|is a FIFO|@SHORT@ @FIFO@"
  "infer-template|1|error: conversation JSON|@SHORT@ @SHORT@"
  "infer-template|1|is a directory|-m @DIR@ @SHORT@"
  "infer-template|2|expected TEMPLATE.jinja and CONVERSATION.json|@SHORT@"
  "infer-template|2|unknown or incomplete option|@SHORT@ @SHORT@ --bogus"
  "infer-chat|1|expected a JSON array of tools|-m @MODEL@ --tools @SHORT@"
  # ---- what must keep working: help, version, -n -1, the thread cap (status 0)
  "infer-cli|0|generation: .* tokens in|-m @MODEL@ -p Once -c 24 -n -1 --temp 0 -t 1"
  "infer-cli|0|warning: -t 4096 is more than the .* cores online. using |-m @MODEL@ -p Once -n 2 -t 4096"
)
foreach(_t infer-cli infer-chat infer-perplexity infer-tokenize infer-gguf infer-bench infer-template)
  list(APPEND _te_rows "${_t}|0|usage: |--help" "${_t}|0|usage: |-h" "${_t}|0|\\(libinfer .*\\)|--version")
endforeach()

if(NOT CMAKE_SCRIPT_MODE_FILE)
  add_executable(test_make_socket ${CMAKE_CURRENT_SOURCE_DIR}/common/make_socket.c)
  foreach(_t infer-cli infer-chat infer-perplexity infer-tokenize infer-gguf infer-bench infer-template)
    add_test(NAME tool_errors_${_t}
      COMMAND ${CMAKE_COMMAND} -DTE_TOOL=${_t} -DTE_BIN=$<TARGET_FILE:${_t}>
              -DTE_MODELS=${CMAKE_CURRENT_SOURCE_DIR}/data/models -DTE_MKSOCK=$<TARGET_FILE:test_make_socket>
              -DTE_WORK=${CMAKE_CURRENT_BINARY_DIR}/tool_errors_${_t} -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(tool_errors_${_t} PROPERTIES TIMEOUT 600 LABELS "tool_errors;hostile"
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:abort_on_error=1;UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
  endforeach()
  # infer-chat reads turns from stdin: a NUL byte in a line is refused with a message,
  # the session goes on (the next line is answered) and ends normally.
  add_test(NAME tool_errors_chat_nul
    COMMAND sh -c "printf 'hello\\000world\\nOnce\\n' | \"$0\" -m \"$1\" -n 2 -c 64 -t 1 --seed 1 2>&1"
            $<TARGET_FILE:infer-chat> ${CMAKE_CURRENT_SOURCE_DIR}/data/models/stories260K.gguf)
  set_tests_properties(tool_errors_chat_nul PROPERTIES TIMEOUT 120 LABELS tool_errors
    PASS_REGULAR_EXPRESSION "contains a NUL byte \\(at byte 5\\); it was not sent.*reply: [0-9]+ tokens"
    FAIL_REGULAR_EXPRESSION "reply: [0-9]+ tokens.*reply: [0-9]+ tokens;Sanitizer;runtime error"
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1")
  return()
endif()

# ---------------------------------------------------------------- script mode

set(_model ${TE_MODELS}/stories260K.gguf)
if(NOT EXISTS ${_model})
  message(STATUS "missing ${_model}")
  return()   # a missing bundled fixture is a setup error, but not this tool's
endif()
file(REMOVE_RECURSE ${TE_WORK})
file(MAKE_DIRECTORY ${TE_WORK}/dir)
execute_process(COMMAND mkfifo ${TE_WORK}/fifo RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mkfifo failed")
endif()
# unix socket paths are limited to 108 bytes: a deep build tree gets a /tmp one.
set(_sock ${TE_WORK}/sock)
string(LENGTH "${_sock}" _sock_len)
if(_sock_len GREATER 100)
  string(MD5 _h "${TE_WORK}")
  set(_sock /tmp/infer-te-${_h}.sock)
  file(REMOVE ${_sock})
endif()
execute_process(COMMAND ${TE_MKSOCK} ${_sock} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT EXISTS ${_sock})
  message(FATAL_ERROR "cannot make a unix socket at ${_sock}")
endif()
file(WRITE ${TE_WORK}/bad.gguf "this is not a model file\n")
file(WRITE ${TE_WORK}/short.txt "Once upon a time.")
file(WRITE ${TE_WORK}/short_ids.txt "1 2 3")
file(WRITE ${TE_WORK}/empty.txt "")
set(_split_name synth-llama-Q8_0-00001-of-00003.gguf)
set(_split ${TE_MODELS}/../split/${_split_name})
file(COPY ${_split} DESTINATION ${TE_WORK}/lonely)

set(_failures "")
set(_n 0)
foreach(row ${_te_rows})
  string(REPLACE "|" ";" f "${row}")
  list(GET f 0 tool)
  if(NOT tool STREQUAL TE_TOOL)
    continue()
  endif()
  list(GET f 1 want_rc)
  list(GET f 2 want_re)
  list(SUBLIST f 3 -1 argl)
  string(JOIN "|" args ${argl})
  foreach(p MODEL FIFO DIR SOCK ZERO BAD SHORT SHORT_IDS EMPTY WORK SPLIT LONELY)
    set(v_SPLIT ${_split})
    set(v_LONELY ${TE_WORK}/lonely/${_split_name})
    set(v_MODEL ${_model})
    set(v_FIFO ${TE_WORK}/fifo)
    set(v_DIR ${TE_WORK}/dir)
    set(v_SOCK ${_sock})
    set(v_ZERO /dev/zero)
    set(v_BAD ${TE_WORK}/bad.gguf)
    set(v_SHORT ${TE_WORK}/short.txt)
    set(v_SHORT_IDS ${TE_WORK}/short_ids.txt)
    set(v_EMPTY ${TE_WORK}/empty.txt)
    set(v_WORK ${TE_WORK})
    string(REPLACE "@${p}@" "${v_${p}}" args "${args}")
  endforeach()
  separate_arguments(argv UNIX_COMMAND "${args}")
  string(TIMESTAMP t0 "%s")
  execute_process(COMMAND ${TE_BIN} ${argv} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                  TIMEOUT 60 INPUT_FILE /dev/null)
  math(EXPR _n "${_n} + 1")
  set(all "${out}${err}")
  set(why "")
  if(NOT rc STREQUAL want_rc)
    set(why "exit status ${rc}, expected ${want_rc}")
  elseif(NOT all MATCHES "${want_re}")
    set(why "output does not match /${want_re}/")
  elseif(all MATCHES "Sanitizer|runtime error:")
    set(why "a sanitizer report")
  elseif(NOT want_rc EQUAL 0 AND NOT err MATCHES "error: ")
    set(why "no 'error: ' message on stderr")
  endif()
  if(why)
    string(APPEND _failures "\n  ${TE_TOOL} ${args}: ${why}\n---- stdout ----\n${out}\n---- stderr ----\n${err}")
  else()
    message(STATUS "ok  [${rc}] ${TE_TOOL} ${args}")
  endif()
endforeach()
if(_n EQUAL 0)
  message(FATAL_ERROR "no rows for ${TE_TOOL}")
endif()
if(_sock MATCHES "^/tmp/infer-te-")
  file(REMOVE ${_sock})
endif()
if(_failures)
  message(FATAL_ERROR "bad invocations of ${TE_TOOL} not handled as expected:${_failures}")
endif()
