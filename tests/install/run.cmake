# Install test, run by ctest as `cmake -P`: installs the build tree into a scratch
# prefix, compiles tests/install/main.c against it with pkg-config exactly as a user
# would, and runs it three ways: shared library found through LD_LIBRARY_PATH, shared
# library found through an rpath, and static linking (pkg-config --static); then every
# example under examples/; then tests/install/consumer, a CMake project using
# find_package(infer), against the same prefix with the imported targets infer::infer and
# infer::infer_static.
# Inputs: BINARY_DIR SOURCE_DIR WORK_DIR CC PKG_CONFIG MODEL EXTRA_FLAGS (;-list) EXAMPLES_DIR.

function(run_checked what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  set(RUN_OUT "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run_checked("cmake --install" "${CMAKE_COMMAND}" --install "${BINARY_DIR}" --prefix "${prefix}")

file(GLOB_RECURSE pc_files "${prefix}/*/infer.pc")
list(LENGTH pc_files n_pc)
if(NOT n_pc EQUAL 1)
  message(FATAL_ERROR "expected one installed infer.pc under ${prefix}, found: ${pc_files}")
endif()
get_filename_component(pc_dir "${pc_files}" DIRECTORY)
get_filename_component(lib_dir "${pc_dir}" DIRECTORY)
foreach(f "${prefix}/include/infer.h" "${lib_dir}/libinfer.a")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
file(GLOB sonames "${lib_dir}/libinfer.so.*")
if(NOT sonames)
  message(FATAL_ERROR "no versioned libinfer.so.* in ${lib_dir}")
endif()

function(pkg_flags out)
  run_checked("pkg-config" "${CMAKE_COMMAND}" -E env "PKG_CONFIG_PATH=${pc_dir}"
              "${PKG_CONFIG}" ${ARGN} infer)
  string(STRIP "${RUN_OUT}" flags)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(${out} ${flags} PARENT_SCOPE)
endfunction()
pkg_flags(shared_flags --cflags --libs)
pkg_flags(static_cflags --cflags)
pkg_flags(static_libs --static --libs)

function(check_output label)
  if(NOT RUN_OUT MATCHES "libinfer [0-9]+\\.[0-9]+\\.[0-9]+" OR NOT RUN_OUT MATCHES "architecture llama")
    message(FATAL_ERROR "${label}: unexpected output:\n${RUN_OUT}")
  endif()
  message(STATUS "${label}: ${RUN_OUT}")
endfunction()

# 1. shared library through LD_LIBRARY_PATH
run_checked("compile (shared)" "${CC}" "${SOURCE_DIR}/main.c" ${shared_flags} ${EXTRA_FLAGS} -o "${WORK_DIR}/hello_shared")
run_checked("ldd" ldd "${WORK_DIR}/hello_shared")
if(NOT RUN_OUT MATCHES "libinfer\\.so")
  message(FATAL_ERROR "hello_shared is not linked to libinfer.so:\n${RUN_OUT}")
endif()
run_checked("run (LD_LIBRARY_PATH)" "${CMAKE_COMMAND}" -E env "LD_LIBRARY_PATH=${lib_dir}" "${WORK_DIR}/hello_shared" "${MODEL}")
check_output("shared via LD_LIBRARY_PATH")

# 2. shared library through an rpath (no environment)
run_checked("compile (rpath)" "${CC}" "${SOURCE_DIR}/main.c" ${shared_flags} ${EXTRA_FLAGS} "-Wl,-rpath,${lib_dir}" -o "${WORK_DIR}/hello_rpath")
run_checked("run (rpath)" "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH "${WORK_DIR}/hello_rpath" "${MODEL}")
check_output("shared via rpath")

# 3. static library (pkg-config --static adds the private libraries)
list(REMOVE_ITEM static_libs "-linfer")
run_checked("compile (static)" "${CC}" "${SOURCE_DIR}/main.c" ${static_cflags} "${lib_dir}/libinfer.a" ${static_libs} ${EXTRA_FLAGS} -o "${WORK_DIR}/hello_static")
run_checked("run (static)" "${WORK_DIR}/hello_static" "${MODEL}")
check_output("static")

# 4. every example under examples/, built the way its header comment says, run on MODEL
if(EXAMPLES_DIR)
  file(GLOB examples "${EXAMPLES_DIR}/*.c")
  foreach(src ${examples})
    get_filename_component(name "${src}" NAME_WE)
    run_checked("compile example ${name}" "${CC}" "${src}" ${shared_flags} ${EXTRA_FLAGS} "-Wl,-rpath,${lib_dir}"
                -o "${WORK_DIR}/example_${name}")
    run_checked("run example ${name}" "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH "${WORK_DIR}/example_${name}"
                "${MODEL}")
    message(STATUS "example ${name}:\n${RUN_OUT}")
  endforeach()
endif()

# 5. CMake config package: find_package(infer) in a user's project
set(consumer_build "${WORK_DIR}/consumer")
list(JOIN EXTRA_FLAGS " " extra_flags_str)
run_checked("configure consumer (find_package)" "${CMAKE_COMMAND}" -S "${SOURCE_DIR}/consumer" -B "${consumer_build}"
  "-DCMAKE_PREFIX_PATH=${prefix}" "-DCMAKE_C_COMPILER=${CC}" "-DCMAKE_BUILD_TYPE=Release"
  "-DCMAKE_C_FLAGS=${extra_flags_str}" "-DCMAKE_EXE_LINKER_FLAGS=${extra_flags_str}")
run_checked("build consumer (find_package)" "${CMAKE_COMMAND}" --build "${consumer_build}")
run_checked("ldd" ldd "${consumer_build}/hello_cmake")
if(NOT RUN_OUT MATCHES "libinfer\\.so\\.[0-9]+ => ${lib_dir}/")
  message(FATAL_ERROR "hello_cmake does not load the installed libinfer.so from ${lib_dir}:\n${RUN_OUT}")
endif()
run_checked("run (find_package, shared)" "${CMAKE_COMMAND}" -E env --unset=LD_LIBRARY_PATH "${consumer_build}/hello_cmake" "${MODEL}")
check_output("find_package infer::infer")
run_checked("ldd" ldd "${consumer_build}/hello_cmake_static")
if(RUN_OUT MATCHES "libinfer\\.so")
  message(FATAL_ERROR "hello_cmake_static is linked to libinfer.so:\n${RUN_OUT}")
endif()
run_checked("run (find_package, static)" "${consumer_build}/hello_cmake_static" "${MODEL}")
check_output("find_package infer::infer_static")
