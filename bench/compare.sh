#!/bin/sh
# Side by side: infer-bench and an installed llama-bench on one GGUF file, same threads,
# same tests (pp512, tg128), both with an F16 KV cache; prints t/s, peak RSS and the
# libinfer/llama.cpp ratio per test. Both tools are run with -o json and the rows are
# matched on (n_prompt, n_gen) by llama-bench's field names.
#
#   bench/compare.sh FILE [THREADS]      env: INFER_BENCH (default build/infer-bench),
#                                             LLAMA_BENCH (default: llama-bench on PATH),
#                                             P (512), N (128), REPS (3),
#                                             BACKEND (cpu: llama-bench is a CPU build here;
#                                             infer-bench's "auto" would take a Vulkan device)
# llama-bench's peak RSS comes from /usr/bin/time -f %M when that is installed.
set -eu
file=${1:?usage: bench/compare.sh FILE [THREADS]}
threads=${2:-2}
p=${P:-512}; n=${N:-128}; reps=${REPS:-3}; backend=${BACKEND:-cpu}
here=$(cd "$(dirname "$0")/.." && pwd)
infer_bench=${INFER_BENCH:-$here/build/infer-bench}
llama_bench=${LLAMA_BENCH:-$(command -v llama-bench || true)}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT INT TERM

echo "# $(date -u +%FT%TZ) $(uname -n); load average: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$infer_bench" -m "$file" -p "$p" -n "$n" -t "$threads" -r "$reps" --backend "$backend" -o json >"$tmp/infer.json"
if [ -n "$llama_bench" ] && [ -x "$llama_bench" ]; then
    timer=""; [ -x /usr/bin/time ] && timer="/usr/bin/time -f %M -o $tmp/llama.rss"
    # shellcheck disable=SC2086  # $timer is empty or a command with its arguments
    $timer "$llama_bench" -m "$file" -p "$p" -n "$n" -t "$threads" -r "$reps" -o json >"$tmp/llama.json"
else
    echo "llama-bench not found on PATH (set LLAMA_BENCH=...): showing libinfer only" >&2
    echo '[]' >"$tmp/llama.json"
fi
python3 - "$tmp/infer.json" "$tmp/llama.json" "$tmp/llama.rss" <<'PY'
import json, os, sys
ours, theirs = (json.load(open(f)) for f in sys.argv[1:3])
# /usr/bin/time's %M is the peak resident set of the whole llama-bench run, in KiB
rss_kib = open(sys.argv[3]).read().split()[-1] if os.path.exists(sys.argv[3]) else ""
def size(b): return f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"
theirs_rss = size(int(rss_kib) * 1024) if rss_kib.isdigit() else "-"
def key(r): return (r["n_prompt"], r["n_gen"])
def name(r): return f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"
ref = {key(r): r for r in theirs}
print(f"model: {ours[0]['model_filename'] if ours else '?'}  threads: {ours[0]['n_threads'] if ours else '?'}")
print("| test | libinfer t/s | llama.cpp t/s | ratio | libinfer peak RSS | llama-bench peak RSS |")
print("|---|---:|---:|---:|---:|---:|")
for r in ours:
    t = ref.get(key(r))
    lt = f"{t['avg_ts']:.2f} +/- {t['stddev_ts']:.2f}" if t else "-"
    ratio = f"{r['avg_ts'] / t['avg_ts']:.2f}" if t and t["avg_ts"] > 0 else "-"
    print(f"| {name(r)} | {r['avg_ts']:.2f} +/- {r['stddev_ts']:.2f} | {lt} | {ratio} "
          f"| {size(r['peak_rss_bytes'])} | {theirs_rss} |")
PY
