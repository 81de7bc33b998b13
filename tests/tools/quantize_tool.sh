#!/bin/sh
# infer-quantize as a user runs it: the summary, per-tensor progress lines when stderr is
# not a terminal, --pure and --keep, and the failures: unknown type, requantizing a
# quantized file without --allow-requantize, a write that fails midway (file size limit:
# the same fwrite failure a full disk gives). A failed run leaves no output file at all.
# Usage: quantize_tool.sh TOOLS_DIR SHARED_MODELS_DIR
set -u
tools=$1 models=$2
f32=$models/synth-llama-F32.gguf q8=$models/synth-llama-Q8_0.gguf
[ -f "$f32" ] && [ -f "$q8" ] || { echo "skipped: $f32 or $q8 absent"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/infer-quantize-tool-XXXXXX")
trap 'rm -rf "$work"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
q=$tools/infer-quantize
types() { "$tools/infer-gguf" "$1" | awk '$1 ~ /^[0-9]+$/ {print $2, $3}'; }

# success: summary on stdout, one progress line per tensor on stderr (not a tty)
"$q" "$f32" "$work/a.gguf" Q8_0 -t 2 >"$work/out" 2>"$work/err" || fail "Q8_0 run failed: $(cat "$work/err")"
grep -q "bits/weight" "$work/out" || fail "no summary: $(cat "$work/out")"
grep -q "time" "$work/out" || fail "no time in summary"
[ "$(grep -c '^\[ *[0-9]*/ *30\]' "$work/err")" = 30 ] || fail "expected 30 progress lines: $(cat "$work/err")"
[ ! -e "$work/a.gguf.part" ] || fail "temporary file left after success"

# --pure: no Q6_K in a Q4_K_M file; --keep: the override wins
"$q" "$f32" "$work/p.gguf" Q4_K_M --pure --quiet >/dev/null 2>&1 || fail "--pure run failed"
types "$work/p.gguf" | grep -q "Q6_K" && fail "--pure still mixed in Q6_K"
"$q" "$f32" "$work/k.gguf" Q4_K_M --keep 'token_embd|ffn_down=Q8_0' --quiet >/dev/null 2>&1 || fail "--keep run failed"
[ "$(types "$work/k.gguf" | grep -E '^(token_embd|blk\.[0-9]+\.ffn_down)\.weight Q8_0$' | wc -l)" = 4 ] ||
  fail "--keep did not set token_embd and 3 ffn_down to Q8_0: $(types "$work/k.gguf")"

# unknown type: usage-level error naming the known types
"$q" "$f32" "$work/u.gguf" Q4_K_X >/dev/null 2>"$work/err"; rc=$?
[ $rc = 1 ] && grep -q "unknown quantization type 'Q4_K_X'" "$work/err" && grep -q "Q4_K_M" "$work/err" ||
  fail "unknown type: rc $rc, $(cat "$work/err")"
[ ! -e "$work/u.gguf" ] || fail "output left after unknown type"

# requantizing needs --allow-requantize
"$q" "$q8" "$work/r.gguf" Q4_0 >/dev/null 2>"$work/err"; rc=$?
[ $rc = 1 ] && grep -q "already quantized (Q8_0)" "$work/err" || fail "requantize not refused: rc $rc, $(cat "$work/err")"
[ ! -e "$work/r.gguf" ] && [ ! -e "$work/r.gguf.part" ] || fail "output left after requantize refusal"
"$q" "$q8" "$work/r.gguf" Q4_0 --allow-requantize --quiet >/dev/null 2>&1 || fail "--allow-requantize refused"
types "$work/r.gguf" | grep -q "blk.0.attn_q.weight Q4_0" || fail "--allow-requantize did not quantize"

# a write that fails midway (64 KiB file size limit, SIGXFSZ ignored so write returns EFBIG)
(ulimit -f 64; trap '' XFSZ; exec "$q" "$f32" "$work/full.gguf" Q8_0 --quiet) >/dev/null 2>"$work/err"; rc=$?
[ $rc = 1 ] && grep -q "error: writing" "$work/err" || fail "write failure: rc $rc, $(cat "$work/err")"
[ ! -e "$work/full.gguf" ] && [ ! -e "$work/full.gguf.part" ] || fail "partial output left after a write failure"

# missing input
"$q" "$work/none.gguf" "$work/n.gguf" Q8_0 >/dev/null 2>"$work/err"; rc=$?
[ $rc = 1 ] && grep -q "error:" "$work/err" || fail "missing input: rc $rc"

[ $fails = 0 ] && echo "quantize_tool: all checks passed"
exit $fails
