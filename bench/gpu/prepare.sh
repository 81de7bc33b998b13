#!/usr/bin/env bash
# Prepares, on this (CPU-only, Debian 12) machine, everything bench/gpu/device.sh needs on
# the GPU machine, which has no Vulkan loader, no shader compiler, no network and receives
# only the working tree (64 MiB) plus up to 8 ignored `carry` paths:
#   build-gpu/bin.tar.xz   bin/: libinfer's tools, tests and layout generators (Release,
#                      Vulkan, stripped; xz: 14 MiB of mostly shared code and SPIR-V -> 0.7), lib/: the two
#                      shared libraries they need that the GPU image may lack
#   build-gpu/llama-bench.xz   llama.cpp's llama-bench with its Vulkan backend, from the
#                      llama-cpp-python sdist on PyPI (never committed), static, stripped
#   build-gpu/shared   the part of ../shared the run reads (../shared does not travel)
#   .gl/               the Vulkan loader and glvnd .debs (device README's command)
# and prints the travel size and the exact `run` call. The llama.cpp build is slow on 2
# cores, so it starts first, in the background, and the rest is done meanwhile.
#
#   bench/gpu/prepare.sh        env: LLAMA_WORK (/tmp/gpukit-llama: sdist and source),
#                                    LLAMA_BUILD ($LLAMA_WORK/build; kept, so a rerun is quick),
#                                    JOBS (2), REF_MODELS (shared models to carry)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/build-gpu
obj=$repo/build-gpu-obj            # libinfer's CMake tree; stays here, only copies travel
llama_work=${LLAMA_WORK:-/tmp/gpukit-llama}
llama_build=${LLAMA_BUILD:-$llama_work/build}
jobs=${JOBS:-2}
# Shared models for the golden runs on the GPU beyond tests/data's (each a weight type the
# H200 should see: Q6_K and Q5_K as in real Q4_K_M files, Q8_0 for the int-dot kernels).
ref_models=${REF_MODELS:-"synth-llama-Q6_K synth-llama-Q8_0 synth-llama-Q5_K_M"}
# Targets the device run executes; test_golden spawns infer-cli and infer-perplexity.
targets="infer-bench infer-cli infer-perplexity test_vulkan_ops test_golden
         bench-gen_qwen2_layout bench-gen_gptoss_layout"
t0=$SECONDS

say() { printf '[prepare %4ds] %s\n' $((SECONDS - t0)) "$*"; }

# llama.cpp's Vulkan backend needs newer tools than Debian 12 has: its C++ uses Vulkan
# headers past 1.3.239 (VK_EXT_layer_settings), and Debian 12's glslc (shaderc 2023.2)
# cannot compile its cooperative-matrix shaders, without which its prompt speed on NVIDIA
# would be understated. So Debian 13's glslc, Vulkan and SPIR-V headers are fetched with
# apt (a separate package list, nothing installed) and unpacked under $llama_work/trixie;
# glslc runs there through Debian 13's own dynamic loader and C library. Bench-only tools,
# no dependency of libinfer.
fetch_llama_build_tools() {
    local t=$llama_work/trixie
    [ -x "$t/glslc" ] && return
    mkdir -p "$t/lists/partial" "$t/cache/archives/partial" "$t/debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        >"$t/sources.list"
    local -a apt13=(-o Dir::Etc::SourceList="$t/sources.list" -o Dir::Etc::SourceParts=/nonexistent
        -o Dir::State::Lists="$t/lists" -o Dir::Cache="$t/cache" -o APT::Architecture=amd64)
    apt-get "${apt13[@]}" update -q >/dev/null
    (cd "$t/debs" && apt-get "${apt13[@]}" download -q glslc libshaderc1 libc6 libgcc-s1 libstdc++6 \
        libvulkan-dev spirv-headers)
    local f lib=$t/root/usr/lib/x86_64-linux-gnu
    for f in "$t"/debs/*.deb; do dpkg -x "$f" "$t/root"; done
    printf '#!/bin/sh\nexec %s/ld-linux-x86-64.so.2 --library-path %s %s/root/usr/bin/glslc "$@"\n' \
        "$lib" "$lib" "$t" >"$t/glslc"
    chmod +x "$t/glslc"
    "$t/glslc" --version | head -1
}

# The newest llama-cpp-python sdist; its vendor/llama.cpp is the llama.cpp we compare with.
fetch_llama_source() {
    mkdir -p "$llama_work"
    if ! ls "$llama_work"/llama_cpp_python-*.tar.gz >/dev/null 2>&1; then
        python3 -m pip download -q --no-binary :all: --no-deps llama-cpp-python -d "$llama_work"
    fi
    local tarball; tarball=$(find "$llama_work" -maxdepth 1 -name "llama_cpp_python-*.tar.gz" | sort -V | tail -1)
    local dir=${tarball%.tar.gz}
    [ -d "$dir" ] || tar -xzf "$tarball" -C "$llama_work"
    echo "$dir/vendor/llama.cpp"
}

# Static llama-bench with ggml's Vulkan backend. The CPU part is built for AVX2 (the GPU
# host's CPU is unknown: a -march=native build from here could fault there); libstdc++ and
# libgcc are linked in since the GPU image's versions are unknown too.
build_llama_bench() {
    local src=$1 build=$llama_build
    if [ ! -f "$build/CMakeCache.txt" ]; then
        mkdir -p "$build"
        nice -n 10 cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DBUILD_SHARED_LIBS=OFF -DGGML_VULKAN=ON -DGGML_NATIVE=OFF -DGGML_AVX2=ON \
            -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_OPENMP=OFF \
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
            -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF \
            -DCMAKE_EXE_LINKER_FLAGS="-static-libgcc -static-libstdc++" \
            -DVulkan_INCLUDE_DIR="$llama_work/trixie/root/usr/include" \
            -DVulkan_GLSLC_EXECUTABLE="$llama_work/trixie/glslc" \
            -DSPIRV-Headers_DIR="$llama_work/trixie/root/usr/share/cmake/SPIRV-Headers" |
            tee "$build/gpukit-configure.log"
    fi
    nice -n 10 cmake --build "$build" --target llama-bench -j "$jobs"
    local bin=$build/bin/llama-bench
    strip -o "$llama_work/llama-bench" "$bin"
    # SPIR-V blobs dominate the binary and compress well: xz keeps the travel small
    xz -T1 -6 -c "$llama_work/llama-bench" >"$llama_work/llama-bench.xz"
    { echo "source: $(basename "$(dirname "$(dirname "$src")")") (PyPI sdist, vendor/llama.cpp)"
      grep -E '^(GGML_VULKAN|GGML_AVX[^_]*|GGML_NATIVE|BUILD_SHARED_LIBS):' "$build/CMakeCache.txt"
      # which cooperative-matrix shader variants this glslc could build (they speed up pp)
      grep -h 'supported by glslc' "$build/gpukit-configure.log" 2>/dev/null | sed 's/^-- //' || true
      echo "glslc: $("$llama_work/trixie/glslc" --version 2>&1 | tr '\n' ' ')"
    } >"$llama_work/llama-bench.txt"
}

# Runs the whole llama.cpp leg; its log stays in $llama_work/build.log.
llama_leg() {
    fetch_llama_build_tools
    local src; src=$(fetch_llama_source)
    build_llama_bench "$src"
}

build_libinfer() {
    nice -n 10 cmake -S "$repo" -B "$obj" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DINFER_VULKAN=ON -DINFER_OPENBLAS=OFF -DINFER_SANITIZE=OFF >/dev/null
    # shellcheck disable=SC2086  # $targets is a word list on purpose
    nice -n 10 cmake --build "$obj" -j "$jobs" --target $targets >/dev/null
}

# Stripped copies of the executables, plus the shared libraries the GPU image may lack
# (libinfer itself is linked statically into each program; libvulkan comes from .gl/).
stage_binaries() {
    local stage=$obj/gpukit-stage t f
    rm -rf "$stage" "${out:?}/bin" "${out:?}/lib"; mkdir -p "$stage/bin" "$stage/lib" "$out"
    for t in $targets; do
        f=$obj/$t; [ -x "$f" ] || f=$obj/tests/$t
        strip -o "$stage/bin/$t" "$f"
    done
    for t in libjansson.so.4 libcmocka.so.0; do
        cp -L "$(ldconfig -p | awk -v n="$t" '$1 == n && /x86-64/ {print $NF; exit}')" "$stage/lib/$t"
    done
    tar -C "$stage" -cJf "$out/bin.tar.xz" bin lib
    # The tests have their fixture and tool paths compiled in (tests/CMakeLists.txt):
    # device.sh links these paths to where the tree lands on the GPU machine.
    echo "$repo" >"$out/SOURCE_DIR"
    echo "$obj" >"$out/TOOLS_DIR"
    git -C "$repo" log -1 --format='libinfer %h %cI %s' >"$out/BUILD_INFO"
    git -C "$repo" status --porcelain --untracked-files=no | sed 's/^/  dirty: /' >>"$out/BUILD_INFO"
}

# ../shared does not travel: the models, their golden files and the gpt-oss vocabulary
# (for bench-gen_gptoss_layout) go into build-gpu/shared, laid out as ../shared is.
stage_reference_data() {
    local src=$repo/../shared/testdata dst=$out/shared/testdata m f
    rm -rf "$out/shared"; mkdir -p "$dst/models" "$dst/golden" "$dst/tokenizer" "$dst/text"
    for m in $ref_models; do
        cp "$src/models/$m.gguf" "$dst/models/"
        # golden files tests/data already has are found there first (tests/common/testdata.c)
        for f in "$src/golden/$m".*; do
            [ -e "$repo/tests/data/golden/${f##*/}" ] || cp "$f" "$dst/golden/"
        done
    done
    cp "$src/text/"* "$dst/text/"
    xz -T1 -6 -c "$src/tokenizer/gptoss.gguf" >"$dst/tokenizer/gptoss.gguf.xz"
}

# The device README's command: the loader and the glvnd family, as .debs to unpack there.
fetch_loader_debs() {
    if ls "$repo"/.gl/libvulkan1_*.deb >/dev/null 2>&1; then return; fi
    mkdir -p "$repo/.gl" /tmp/amd64/partial
    local -a o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
    apt-get "${o[@]}" update -q >/dev/null
    (cd "$repo/.gl" && apt-get "${o[@]}" download -q libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
}

# Everything that will travel must be either committed-or-untracked (the tree) or carried,
# and what is carried must be ignored, or it would travel twice.
check_carry_ignored() {
    local p
    for p in .gl build-gpu; do
        git -C "$repo" check-ignore -q "$p/" || { echo "error: $p is not ignored by git" >&2; exit 1; }
    done
}

travel_bytes() {
    local tree carry
    tree=$(cd "$repo" && git ls-files -z -co --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s}')
    carry=$(du -sb "$repo/.gl" "$out" | awk '{s += $1} END {print s}')
    echo "$tree $carry"
}

main() {
    say "llama.cpp leg in the background (log: $llama_work/build.log)"
    mkdir -p "$llama_work"
    llama_leg >"$llama_work/build.log" 2>&1 &
    local llama_pid=$!

    say "building libinfer (Release, Vulkan, no OpenBLAS) in $obj"
    build_libinfer
    stage_binaries
    say "reference data from ../shared"
    stage_reference_data
    say "Vulkan loader .debs into .gl/"
    fetch_loader_debs

    say "waiting for llama-bench (pid $llama_pid)"
    if ! wait "$llama_pid"; then
        echo "error: llama.cpp build failed; see $llama_work/build.log" >&2; tail -20 "$llama_work/build.log" >&2
        exit 1
    fi
    cp "$llama_work/llama-bench.xz" "$llama_work/llama-bench.txt" "$out/"
    check_carry_ignored

    local sizes tree carry
    sizes=$(travel_bytes); tree=${sizes% *}; carry=${sizes#* }
    say "done in $((SECONDS - t0)) s"
    du -sh "$out"/* "$repo/.gl" | sed 's/^/  /'
    awk -v t="$tree" -v c="$carry" 'BEGIN { m = 1048576
        printf "travel: tree %.1f MiB + carry %.1f MiB = %.1f MiB (limit 64 MiB)\n", t / m, c / m, (t + c) / m }'
    cat <<EOF

The device call (one run; device.sh keeps its own time budget of BUDGET=450 s):
  run(command="bash bench/gpu/device.sh 2>&1", carry=[".gl", "build-gpu"], timeout_s=540)
A second, shorter call for steps that were skipped or failed, e.g.:
  run(command="bash bench/gpu/device.sh coopmat ab 2>&1", carry=[".gl", "build-gpu"], timeout_s=300)
EOF
}

main "$@"
