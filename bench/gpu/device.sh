#!/usr/bin/env bash
# The whole GPU session of issue 15 in one call: correctness on the device, then libinfer
# beside llama.cpp's Vulkan backend on the Qwen2.5-1.5B Q4_K_M and gpt-oss-20b MXFP4
# layouts, then the A/B knobs. Needs what bench/gpu/prepare.sh staged (build-gpu/, .gl/).
#
#   bash bench/gpu/device.sh [--dry-run] [STEP...]
#     STEP: correctness qwen gptoss moe coopmat ab profile attn (default: all, in this
#           order, most valuable first). Setup always runs.
#     --dry-run: the same logic here on lavapipe with tiny layouts, -p 16 -n 8, one rep.
#   env: OUT (results folder; the device tool sets it; dry run: /tmp/gpukit-dry/out),
#        BUDGET (seconds; a step that would not finish inside it is skipped, default 450),
#        HARD (seconds; every command's timeout is cut to end by then, default 520: keep it
#        under the run call's timeout_s, so the script always gets to write what it has),
#        PEAK_GBPS (4800, the H200's HBM3e), THREADS (nproc)
#
# Output in $OUT (at most 8 files come back): results.md (tables + the exact commands, written
# step by step so a timeout keeps what ran), device.log (everything printed),
# correctness.log, bench.log (raw JSON and stderr of every bench run), profile.log.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
kit=$repo/build-gpu
rows=$repo/bench/gpu/rows.py
t0=$SECONDS

dry=0
steps=()
for a in "$@"; do
    case $a in
        --dry-run) dry=1 ;;
        -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
        *) steps+=("$a") ;;
    esac
done
[ ${#steps[@]} -gt 0 ] || steps=(correctness qwen gptoss moe coopmat ab profile attn)

# Sizes and repetitions: the real run times the issue's shapes; the dry run only proves the
# logic (tiny shapes, one repetition, lavapipe), so its numbers mean nothing.
if [ "$dry" = 1 ]; then
    OUT=${OUT:-/tmp/gpukit-dry/out}; work=/tmp/gpukit-dry/work
    budget=${BUDGET:-3000}; hard=${HARD:-3600}; P=16; N=8; REPS=1; NPROF=4; NATTN=64
    qwen_shape="256 2 4 2 512 q4_k_m"; gptoss_layers=1
    # a 1-layer gpt-oss layout still has the 1.2 GB vocabulary head (minutes per run on
    # lavapipe): it is generated, to prove that call, but the synthetic model is timed
    gptoss_timed=$repo/tests/data/models/synth-gptoss-MXFP4_MOE.gguf
    golden_models="stories260K synth-qwen2-Q4_K_M synth-gptoss-MXFP4_MOE"
    # llama.cpp skips CPU-type Vulkan devices (lavapipe) unless they are named
    export GGML_VK_VISIBLE_DEVICES=0
else
    : "${OUT:?OUT must name the results folder (the device tool sets it)}"; work=/tmp/gpukit
    budget=${BUDGET:-450}; hard=${HARD:-520}; P=512; N=128; REPS=3; NPROF=64; NATTN=4096
    qwen_shape="1536 28 12 2 8960 q4_k_m"; gptoss_layers=""      # gpt-oss-20b: 24 layers
    golden_models="stories260K synth-llama-Q4_0 synth-llama-Q4_K_M synth-llama-Q2_K
        synth-llama-IQ4_NL synth-llama-IQ4_XS synth-qwen2-Q4_K_M synth-qwen3-Q4_K_M
        synth-gemma3-Q4_K_M synth-gptoss-MXFP4_MOE synth-llama-Q6_K synth-llama-Q8_0
        synth-llama-Q5_K_M"
fi
bin=$work/bin              # unpacked from build-gpu/bin.tar.xz
peak=${PEAK_GBPS:-4800}
threads=${THREADS:-$(nproc)}
qwen=$work/qwen2.5-1.5b-layout-Q4_K_M.gguf
gptoss=$work/gpt-oss-20b-layout-MXFP4.gguf
gptoss_timed=${gptoss_timed:-$gptoss}
llama_bench=$work/llama-bench
results=$OUT/results.md
correct=unchecked          # ok | FAILED: printed above every timing table

mkdir -p "$OUT" "$work/json"
exec > >(tee -a "$OUT/device.log") 2>&1

# A command's timeout: SECS, or less so that it ends by the hard limit (at least 5 s).
cap() { local left=$((hard - (SECONDS - t0))); echo $(($1 < left ? $1 : (left > 5 ? left : 5))); }

say() { printf '[gpukit %4ds] %s\n' $((SECONDS - t0)) "$*"; }
md() { printf '%s\n' "$*" >>"$results"; }

log_command() {   # LOG CMD...: the command line into $OUT/LOG and the section's commands
    local log=$1; shift
    printf '$ %s\n' "$*" | tee -a "$work/commands" >>"$OUT/$log"
}

# Runs CMD under `timeout SECS`, appending the command line and its output to $OUT/LOG and
# the command line to the commands of the current section. Returns the command's status.
run_logged() {
    local log=$1 secs=$2; shift 2
    log_command "$log" "$@"
    timeout -k 5 "$(cap "$secs")" "$@" >>"$OUT/$log" 2>&1
}

lines() { [ -f "$OUT/$1" ] && wc -l <"$OUT/$1" || echo 0; }

# What LOG gained since it had BEFORE lines (the output of the last command run into it).
since() { tail -n +$(($2 + 1)) "$OUT/$1"; }

# Writes the commands of the section just finished as a code block and starts a new list.
flush_commands() {
    [ -s "$work/commands" ] || return 0
    md '```'; sed "s|$repo/||g" "$work/commands" >>"$results"; md '```'; md ""
    : >"$work/commands"
}

# --- setup: loader, driver, carried files, paths the tests have compiled in -------------

unpack_loader() {
    if ldconfig -p | grep -q 'libvulkan.so.1 '; then return; fi
    local f
    for f in "$repo"/.gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
}

# The NVIDIA ICD is not registered where the loader looks on that machine (device README).
select_driver() {
    local icd
    for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
        /etc/vulkan/icd.d/nvidia_icd.json; do
        if [ -r "$icd" ]; then
            export VK_DRIVER_FILES=$icd
            export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
            return
        fi
    done
    say "no NVIDIA ICD found: the loader's defaults decide the device"
}

# xz when installed, else Python's lzma and tarfile (python3 is on the GPU image)
unxz_to() {   # SRC.xz DST
    if command -v xz >/dev/null; then xz -dc "$1" >"$2"
    else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; fi
}

untar_xz() {   # ARCHIVE.tar.xz DIR
    if command -v xz >/dev/null; then tar -C "$2" -xJf "$1"
    else python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$1" "$2"; fi
}

link_if_absent() {   # TARGET LINK
    [ -e "$2" ] || [ -L "$2" ] && return
    mkdir -p "$(dirname "$2")"
    ln -s "$1" "$2"
}

# test_golden and friends read fixtures from <source dir>/tests/data and
# <source dir>/../shared/testdata, and spawn infer-cli from the build tree, all absolute
# paths of the machine that built them: make those paths lead to this tree and the kit.
link_build_paths() {
    local src tools
    src=$(cat "$kit/SOURCE_DIR"); tools=$(cat "$kit/TOOLS_DIR")
    [ "$src" = "$repo" ] || link_if_absent "$repo" "$src"
    link_if_absent "$kit/shared" "$src/../shared"
    link_if_absent "$bin" "$tools"
    [ -r "$src/tests/data/models/stories260K.gguf" ] || say "WARNING: $src/tests/data is not this tree's"
    [ -x "$tools/infer-cli" ] || say "WARNING: $tools/infer-cli missing: test_golden skips its tool checks"
}

setup() {
    say "setup (dry run: $dry; OUT=$OUT; budget ${budget}s)"
    : >"$work/commands"
    if [ "$dry" = 0 ]; then unpack_loader; select_driver; fi
    rm -rf "${work:?}/bin" "${work:?}/lib"; untar_xz "$kit/bin.tar.xz" "$work"
    export LD_LIBRARY_PATH=$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    if [ -s "$kit/llama-bench.xz" ]; then unxz_to "$kit/llama-bench.xz" "$llama_bench"; chmod +x "$llama_bench"
    else say "no llama-bench in the kit: the llama.cpp columns will read 'failed'"; fi
    unxz_to "$kit/shared/testdata/tokenizer/gptoss.gguf.xz" "$work/gptoss-vocab.gguf"
    link_build_paths
    report_missing_libraries
    write_header
}

# A library the GPU image lacks would fail every later step the same way: say it at once.
report_missing_libraries() {
    local f missing
    for f in "$bin/infer-bench" "$bin/test_golden" "$llama_bench"; do
        [ -x "$f" ] || continue
        missing=$(ldd "$f" 2>&1 | grep 'not found' || true)
        [ -z "$missing" ] || say "WARNING: $(basename "$f") lacks: $(echo "$missing" | tr -s ' \n' ' ')"
    done
}

# Device, driver and both builds, so the table can be read without the log (libinfer's
# device name is in the correctness table: test_vulkan_ops prints it).
write_header() {
    local llama_dev
    llama_dev=$(timeout 30 "$llama_bench" --list-devices 2>&1 | grep -E '^ *Vulkan[0-9]+:' | sed 's/^ *//' || true)
    {
        echo "# GPU kit results $(date -u +%FT%TZ)$([ "$dry" = 1 ] && echo ' (DRY RUN on lavapipe: numbers mean nothing)')"
        echo
        echo "- host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), avx512f: $(grep -qw avx512f /proc/cpuinfo && echo yes || echo no)"
        command -v nvidia-smi >/dev/null && echo "- nvidia-smi: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo failed)"
        echo "- VK_DRIVER_FILES: ${VK_DRIVER_FILES:-unset}"
        echo "- libinfer: $(head -1 "$kit/BUILD_INFO" | cut -c1-100)"
        sed -n '2,$p' "$kit/BUILD_INFO"
        echo "- llama.cpp: $(head -1 "$kit/llama-bench.txt" 2>/dev/null); devices: $(echo "$llama_dev" | tr '\n' ';')"
        sed -n '2,$p' "$kit/llama-bench.txt" 2>/dev/null | sed 's/^/  - /' || true
        echo "- settings: -p $P -n $N -r $REPS -t $threads, F16 KV cache in both; peak for %: $peak GB/s"
        echo
    } >>"$results"
}

# --- correctness ----------------------------------------------------------------------

# test_vulkan_ops (every op and weight format against double-precision references) and
# test_golden on Vulkan (logits against the reference engine's) for each model, plus the
# split classes (some layers on the CPU; MoE experts on the CPU).
correctness() {
    local env_label=${1:-} m rc line n fails=0
    md "## Correctness on the device${env_label:+ ($env_label)}"; md ""
    md "| check | result | detail |"; md "|---|---|---|"
    rc=0; n=$(lines correctness.log)
    run_logged correctness.log 180 ${env_label:+env "$env_label"} "$bin/test_vulkan_ops" || rc=$?
    line="$(since correctness.log "$n" | grep -m1 '^device:' || true); $(since correctness.log "$n" |
        grep -E '^\[ *(PASSED|FAILED) *\]' | tr '\n' ' ' || true)"
    md "| test_vulkan_ops | $([ $rc = 0 ] && echo ok || echo "**FAILED rc=$rc**") | ${line} |"
    [ $rc = 0 ] || fails=$((fails + 1))
    local -a cases=()
    for m in $golden_models; do cases+=("$m vulkan"); done
    [ -n "$env_label" ] && cases=("synth-qwen2-Q4_K_M vulkan" "synth-gptoss-MXFP4_MOE vulkan")
    [ -z "$env_label" ] && cases+=("synth-qwen2-Q4_K_M vulkan 1" "synth-gptoss-MXFP4_MOE vulkan all 99")
    local c
    for c in "${cases[@]}"; do
        rc=0; n=$(lines correctness.log)
        # shellcheck disable=SC2086  # $c is "MODEL BACKEND [NGL [N-CPU-MOE]]"
        run_logged correctness.log 90 ${env_label:+env "$env_label"} "$bin/test_golden" $c || rc=$?
        line=$(since correctness.log "$n" | grep -E 'mean KL|infer-perplexity|FAILED|SKIPPED:' | sed 's/^ *//' |
            tr '|\n' '/ ' || true)
        md "| test_golden $c | $(case $rc in 0) echo ok ;; 77) echo skipped ;; *) echo "**FAILED rc=$rc**" ;; esac) | ${line} |"
        case $rc in 0 | 77) ;; *) fails=$((fails + 1)) ;; esac
    done
    md ""; flush_commands
    if [ -z "$env_label" ]; then [ $fails = 0 ] && correct=ok || correct=FAILED; fi
    say "correctness${env_label:+ ($env_label)}: $fails failure(s)"
}

# --- layouts --------------------------------------------------------------------------

gen_qwen() {
    [ -s "$qwen" ] && return
    # shellcheck disable=SC2086  # $qwen_shape is the generator's shape arguments
    run_logged setup.log 180 "$bin/bench-gen_qwen2_layout" "$repo/tests/data/models/synth-qwen2-Q4_K_M.gguf" \
        "$qwen" $qwen_shape
}

# gpt-oss-20b's layout is 12 GB of random blocks: written in the background while the Qwen
# steps run (one CPU core and the disk; the GPU benches barely use the host).
# The background job is `timeout` itself, so that killing it (at the end) stops the writer.
start_gen_gptoss() {
    [ -s "$gptoss" ] || [ -n "${gen_gptoss_pid:-}" ] && return
    local -a cmd=("$bin/bench-gen_gptoss_layout" "$repo/tests/data/models/synth-gptoss-MXFP4_MOE.gguf"
        "$work/gptoss-vocab.gguf" "$gptoss.part" ${gptoss_layers:+"$gptoss_layers"})
    log_command setup.log "${cmd[@]}"
    timeout -k 5 "$(cap 400)" "${cmd[@]}" >>"$OUT/setup.log" 2>&1 &
    gen_gptoss_pid=$!
}

wait_gptoss() {
    if [ -n "${gen_gptoss_pid:-}" ]; then
        if wait "$gen_gptoss_pid"; then mv "$gptoss.part" "$gptoss"; else say "gpt-oss layout: rc=$?"; fi
        gen_gptoss_pid=""
    fi
    [ -s "$gptoss" ] || { say "gpt-oss layout missing (see setup.log)"; return 1; }
}

# --- timing ---------------------------------------------------------------------------

infer_bench() {   # NAME SECS [ENV=V...] -- ARGS...: JSON to $work/json/NAME.json
    local name=$1 secs=$2; shift 2
    local -a envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
    printf '$ %s\n' "${envs[*]:+${envs[*]} }${bin#"$repo"/}/infer-bench $*" | tee -a "$work/commands" >>"$OUT/bench.log"
    timeout -k 5 "$(cap "$secs")" env "${envs[@]}" "$bin/infer-bench" "$@" -o json \
        >"$work/json/$name.json" 2>>"$OUT/bench.log" || say "infer-bench $name: rc=$?"
    cat "$work/json/$name.json" >>"$OUT/bench.log"
}

llama_bench() {   # NAME SECS ARGS...
    local name=$1 secs=$2; shift 2
    printf '$ %s\n' "$llama_bench $*" | tee -a "$work/commands" >>"$OUT/bench.log"
    timeout -k 5 "$(cap "$secs")" "$llama_bench" "$@" -o json >"$work/json/$name.json" 2>>"$OUT/bench.log" ||
        say "llama-bench $name: rc=$?"
    cat "$work/json/$name.json" >>"$OUT/bench.log"
}

side_table_head() {
    md "## $1"; md ""
    md "Correctness before these timings: **$correct**."
    md ""
    md "| layout | placement | test | libinfer t/s | llama.cpp t/s | ratio | libinfer GPU GB/s | % of peak |"
    md "|---|---|---|---:|---:|---:|---:|---:|"
}

# Both engines on the same file and settings: full offload (infer -ngl all, llama -ngl 99).
side_by_side() {   # LABEL FILE PLACEMENT INFER_EXTRA LLAMA_EXTRA
    local label=$1 file=$2 placement=$3 iextra=$4 lextra=$5 tag n
    tag=$(echo "$label-$placement" | tr -c 'a-zA-Z0-9\n' '_')
    n=$(lines bench.log)
    # shellcheck disable=SC2086  # the extras are option lists
    infer_bench "i_$tag" 300 -- -m "$file" -p $P -n $N -r "$REPS" -t "$threads" --backend vulkan -ngl all \
        --peak-gbps $peak $iextra
    # shellcheck disable=SC2086
    llama_bench "l_$tag" 300 -m "$file" -p $P -n $N -r $REPS -t $threads -ngl 99 $lextra
    python3 "$rows" side "$label" "$placement" "$work/json/i_$tag.json" "$work/json/l_$tag.json" >>"$results"
    md ""
    md "libinfer $(since bench.log "$n" | grep -m1 -o 'placement: .*' || echo 'placement: ? (see bench.log)')"
    md ""
    python3 "$rows" llama-note "$work/json/l_$tag.json" >>"$results"
}

qwen_step() {
    gen_qwen || { say "qwen layout failed"; return 1; }
    start_gen_gptoss
    side_table_head "Qwen2.5-Coder-1.5B Q4_K_M layout (bench-gen_qwen2_layout $qwen_shape; the 512-token vocabulary of synth-qwen2)"
    side_by_side "Qwen2.5-1.5B Q4_K_M" "$qwen" "all on GPU" "" ""
    md ""; flush_commands
}

gptoss_step() {
    wait_gptoss || return 1
    side_table_head "gpt-oss-20b MXFP4 layout ($(basename "$gptoss_timed"))"
    side_by_side "gpt-oss-20b MXFP4" "$gptoss_timed" "all on GPU" "" ""
    md ""; flush_commands
}

# Every layer's MoE experts on the CPU, attention and the rest on the GPU (99 >= 24 layers).
moe_step() {
    wait_gptoss || return 1
    side_table_head "gpt-oss-20b MXFP4 layout, experts on the CPU ($threads threads; $(basename "$gptoss_timed"))"
    side_by_side "gpt-oss-20b MXFP4" "$gptoss_timed" "experts on CPU" "--n-cpu-moe 99" "-ncmoe 99"
    md ""; flush_commands
}

one_table_head() {
    md "## $1"; md ""
    md "| variant | layout | test | t/s | GPU GB/s | % of peak |"; md "|---|---|---|---:|---:|---:|"
}

one_row() {   # LABEL LAYOUT-NAME FILE SECS [ENV=V...] -- ARGS...
    local label=$1 lname=$2 file=$3 secs=$4 tag; shift 4
    tag=$(echo "$label-$lname" | tr -c 'a-zA-Z0-9\n' '_')
    local -a envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
    infer_bench "o_$tag" "$secs" "${envs[@]}" -- -m "$file" -r "$REPS" -t "$threads" --backend vulkan -ngl all \
        --peak-gbps "$peak" "$@"
    python3 "$rows" one "$label" "$lname" "$work/json/o_$tag.json" >>"$results"
}

# The cooperative-matrix prompt matmul (INFER_VK_COOPMAT=1; without support it falls back to
# the tiled kernel, so these rows then equal the default ones): correctness, then pp.
coopmat_step() {
    correctness INFER_VK_COOPMAT=1
    one_table_head "INFER_VK_COOPMAT=1 prompt processing (compare with the tables above)"
    one_row "INFER_VK_COOPMAT=1" "Qwen2.5-1.5B Q4_K_M" "$qwen" 120 INFER_VK_COOPMAT=1 -- -p $P -n 0
    [ -s "$gptoss" ] && one_row "INFER_VK_COOPMAT=1" "gpt-oss-20b MXFP4" "$gptoss_timed" 180 INFER_VK_COOPMAT=1 -- -p $P -n 0
    md ""; flush_commands
}

# bench/RESULTS.md's A/B knobs on decode: one command buffer per pass, the older one-row matvec.
ab_step() {
    one_table_head "A/B knobs on decode (Qwen layout; default = the table above)"
    one_row "INFER_VK_SUBMIT_FIRST=0" "Qwen2.5-1.5B Q4_K_M" "$qwen" 90 INFER_VK_SUBMIT_FIRST=0 -- -p 0 -n $N
    one_row "INFER_VK_MATVEC_ROWS=0" "Qwen2.5-1.5B Q4_K_M" "$qwen" 90 INFER_VK_MATVEC_ROWS=0 -- -p 0 -n $N
    [ -s "$gptoss" ] && one_row "INFER_VK_SUBMIT_FIRST=0" "gpt-oss-20b MXFP4" "$gptoss_timed" 120 INFER_VK_SUBMIT_FIRST=0 -- -p 0 -n $N
    md ""; flush_commands
}

# GPU time per shader, dispatches and barriers per pass (stderr): whole in profile.log, the
# pass counts and the six costliest shaders of each run in results.md.
profile_run() {   # FILE ARGS...
    local file=$1 n; shift
    n=$(lines profile.log)
    run_logged profile.log 120 env INFER_VK_PROFILE=1 "$bin/infer-bench" -m "$file" -r 1 --backend vulkan "$@" || true
    md "$(basename "$file") $*:"; md '```'
    since profile.log "$n" | grep -A7 '^vulkan profile: ' | grep -v '^--$' >>"$results" || md "(no profile output)"
    md '```'
}

profile_step() {
    md "## INFER_VK_PROFILE=1 (whole output in profile.log)"; md ""
    profile_run "$qwen" -p 0 -n "$NPROF"
    profile_run "$qwen" -p "$P" -n 0
    [ -s "$gptoss" ] && profile_run "$gptoss_timed" -p 0 -n "$NPROF"
    md ""; flush_commands
}

# Decode over a long context: split-K attention against one part (a split above the length).
attn_step() {
    one_table_head "Decode over $NATTN positions: split-K attention on and off"
    local -a nr=(-p 0 -n "$NATTN" -c $((NATTN + 8)))
    REPS=1 one_row "default (split-K)" "Qwen2.5-1.5B Q4_K_M" "$qwen" 150 -- "${nr[@]}"
    REPS=1 one_row "INFER_VK_ATTN_SPLIT=1000000" "Qwen2.5-1.5B Q4_K_M" "$qwen" 150 INFER_VK_ATTN_SPLIT=1000000 -- "${nr[@]}"
    md ""; flush_commands
}

# Seconds each step needs at most on the H200 (the dry run ignores them: its budget is large).
step_cost() {
    case $1 in
        correctness) echo 60 ;; qwen) echo 45 ;; gptoss) echo 60 ;; moe) echo 90 ;;
        coopmat) echo 45 ;; ab) echo 30 ;; profile) echo 30 ;; attn) echo 60 ;; *) echo 0 ;;
    esac
}

run_step() {
    local s=$1 cost rc=0
    cost=$(step_cost "$s")
    if [ $((SECONDS - t0 + cost)) -gt "$budget" ]; then
        say "skip $s: ${cost}s would pass the ${budget}s budget"
        md "_Step \`$s\` skipped: out of time (rerun: \`bash bench/gpu/device.sh $s\`)._"; md ""
        return
    fi
    say "step $s"
    # steps after the first need the layouts even when run alone (a rerun)
    case $s in gptoss | moe | coopmat | ab | profile | attn) gen_qwen || true; start_gen_gptoss ;; esac
    case $s in
        correctness) correctness || rc=$? ;;
        qwen) qwen_step || rc=$? ;; gptoss) gptoss_step || rc=$? ;; moe) moe_step || rc=$? ;;
        coopmat) coopmat_step || rc=$? ;; ab) ab_step || rc=$? ;;
        profile) profile_step || rc=$? ;; attn) attn_step || rc=$? ;;
        *) say "unknown step $s"; rc=2 ;;
    esac
    [ $rc = 0 ] || { md "_Step \`$s\` failed (rc $rc): see device.log._"; md ""; flush_commands; }
    say "step $s done (rc $rc)"
}

main() {
    setup
    local s
    for s in "${steps[@]}"; do run_step "$s"; done
    [ -z "${gen_gptoss_pid:-}" ] || kill "$gen_gptoss_pid" 2>/dev/null || true
    # the dry run's 1-layer layout (1.7 GB) was only made to prove the generator's call
    [ "$dry" = 0 ] || rm -f "$gptoss" "$gptoss.part"
    say "finished in $((SECONDS - t0)) s; results in $results"
}

main
