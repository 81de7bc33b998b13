#!/usr/bin/env python3
"""Markdown table rows for bench/gpu/device.sh from infer-bench and llama-bench JSON.

  rows.py side LAYOUT PLACEMENT INFER.json LLAMA.json   libinfer beside llama.cpp, one row per test
  rows.py one LABEL LAYOUT INFER.json                   libinfer alone (A/B variants)
  rows.py llama-note LLAMA.json                         llama.cpp's own settings, one line

Rows are matched on (n_prompt, n_gen), llama-bench's own field names. A missing, empty or
unreadable file (a run that failed or timed out) gives "failed" cells instead of an error,
so the table still shows what did run. GB/s and % of peak are infer-bench's GPU weight
bytes per token x t/s (gpu_gbs, gpu_peak_pct), on tg rows only.
"""
import json
import sys


def load(path):
    try:
        with open(path) as f:
            rows = json.load(f)
        return rows if isinstance(rows, list) else []
    except (OSError, ValueError):
        return []


def test_name(r):
    return f"pp{r['n_prompt']}" if r["n_prompt"] else f"tg{r['n_gen']}"


def ts(r):
    return f"{r['avg_ts']:.2f} +/- {r['stddev_ts']:.2f}" if r else "failed"


def num(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.3g}"   # the dry run's tiny models read MB/s


def gpu_bw(r):
    if not r or r["n_gen"] == 0 or not r.get("gpu_gbs"):
        return "", ""
    pct = f"{num(r['gpu_peak_pct'])}%" if r.get("gpu_peak_pct") else "-"
    return num(r["gpu_gbs"]), pct


def side(layout, placement, ours_path, theirs_path):
    ours, theirs = load(ours_path), load(theirs_path)
    ref = {(r["n_prompt"], r["n_gen"]): r for r in theirs}
    keys = [(r["n_prompt"], r["n_gen"]) for r in ours] or list(ref)
    mine = {(r["n_prompt"], r["n_gen"]): r for r in ours}
    if not keys:
        print(f"| {layout} | {placement} | - | failed | failed | - | | |")
    for k in keys:
        a, b = mine.get(k), ref.get(k)
        name = test_name(a or b)
        ratio = f"**{a['avg_ts'] / b['avg_ts']:.2f}**" if a and b and b["avg_ts"] > 0 else "-"
        gbs, pct = gpu_bw(a)
        print(f"| {layout} | {placement} | {name} | {ts(a)} | {ts(b)} | {ratio} | {gbs} | {pct} |")


def one(label, layout, ours_path):
    ours = load(ours_path)
    if not ours:
        print(f"| {label} | {layout} | - | failed | | |")
    for r in ours:
        gbs, pct = gpu_bw(r)
        print(f"| {label} | {layout} | {test_name(r)} | {ts(r)} | {gbs} | {pct} |")


def llama_note(path):
    rows = load(path)
    if not rows:
        print("llama.cpp: no rows (llama-bench failed or timed out: see bench.log)")
        return
    r = rows[0]
    keys = ("backends", "gpu_info", "n_gpu_layers", "n_cpu_moe", "flash_attn", "type_k", "type_v",
            "n_batch", "n_ubatch", "use_mmap")
    print("llama.cpp: " + ", ".join(f"{k} {r[k]}" for k in keys if k in r))


def main(argv):
    if len(argv) == 6 and argv[1] == "side":
        side(*argv[2:])
    elif len(argv) == 5 and argv[1] == "one":
        one(*argv[2:])
    elif len(argv) == 3 and argv[1] == "llama-note":
        llama_note(argv[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
