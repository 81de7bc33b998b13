# Cross build for aarch64 Linux with Debian's cross compiler (gcc-aarch64-linux-gnu,
# libc6-dev-arm64-cross) and the arm64 multiarch -dev packages (libjansson-dev:arm64,
# libcmocka-dev:arm64 under /usr/lib/aarch64-linux-gnu). Test programs run under
# qemu-user: ctest prefixes every target it runs with CMAKE_CROSSCOMPILING_EMULATOR.
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64-linux-gnu.cmake \
#         -DCMAKE_BUILD_TYPE=Release [-DINFER_QEMU_CPU=cortex-a53]
#
# INFER_QEMU_CPU (cache; default: $ENV{INFER_QEMU_CPU}, else "max") is the CPU model qemu
# emulates: "max" has sdot and smmla, "cortex-a53" only base ASIMD. Changing it re-runs
# configure only; nothing is rebuilt.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(INFER_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${INFER_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${INFER_CROSS_TRIPLE}-g++)

# Headers and libraries of the target: the cross libc under /usr/aarch64-linux-gnu and the
# multiarch packages under /usr/lib/aarch64-linux-gnu (headers in /usr/include are shared
# with the host, which is right for arch-independent -dev packages).
set(CMAKE_FIND_ROOT_PATH /usr/${INFER_CROSS_TRIPLE})
set(CMAKE_LIBRARY_PATH /usr/lib/${INFER_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)    # host tools (pkg-config, glslang)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# pkg-config answers for the target's .pc files only (never the host's x86 libraries).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${INFER_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

if(DEFINED ENV{INFER_QEMU_CPU} AND NOT "$ENV{INFER_QEMU_CPU}" STREQUAL "")
  set(_infer_qemu_cpu_default "$ENV{INFER_QEMU_CPU}")
else()
  set(_infer_qemu_cpu_default max)
endif()
set(INFER_QEMU_CPU "${_infer_qemu_cpu_default}" CACHE STRING "CPU model for qemu-aarch64 (max, cortex-a53, neoverse-n1, ...)")
# -L makes qemu look up the program's loader under the cross sysroot; LD_LIBRARY_PATH
# then makes that loader take the libc of the same glibc build. Without it the loader
# finds libc.so.6 through the host's ld.so.cache in /lib/aarch64-linux-gnu (the
# libc6:arm64 that the multiarch -dev packages pull in), and when the two glibc builds
# differ (2.36-8cross1 vs 2.36-9+deb12u14 here) the first pthread_create hangs.
find_program(INFER_QEMU_AARCH64 qemu-aarch64)
if(INFER_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${INFER_QEMU_AARCH64} -L /usr/${INFER_CROSS_TRIPLE}
      -E LD_LIBRARY_PATH=/usr/${INFER_CROSS_TRIPLE}/lib -cpu ${INFER_QEMU_CPU})
endif()
