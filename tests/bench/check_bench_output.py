#!/usr/bin/env python3
"""infer-bench -o json|jsonl|csv: the output parses with Python's own json/csv readers
(an outside parser, not ours) and every row carries llama-bench's field names with
values that agree with what was asked (n_prompt/n_gen/n_threads/type_k) plus the peak
RSS and load time. Usage: check_bench_output.py INFER_BENCH MODEL. Exit 77: no model."""
import csv, io, json, os, subprocess, sys

LLAMA_BENCH_FIELDS = ["build_commit", "cpu_info", "backends", "model_filename", "model_type",
                      "model_size", "model_n_params", "n_batch", "n_threads", "type_k", "type_v",
                      "n_prompt", "n_gen", "test_time", "avg_ns", "stddev_ns", "avg_ts",
                      "stddev_ts", "samples_ns", "samples_ts"]
EXTRA_FIELDS = ["peak_rss_bytes", "load_time_ms", "weight_bytes_per_token", "gbps", "bandwidth_gbps",
                "bandwidth_fraction"]


def run(exe, model, fmt, *extra):
    out = subprocess.run([exe, "-m", model, "-p", "8", "-n", "3", "-t", "1", "-r", "2", "-o", fmt, *extra],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        sys.exit(f"infer-bench -o {fmt} failed ({out.returncode}): {out.stderr}")
    return out.stdout


def check_rows(rows, fmt, kv):
    if len(rows) != 2:
        sys.exit(f"-o {fmt}: expected 2 rows (pp8, tg3), got {len(rows)}")
    for row in rows:
        missing = [k for k in LLAMA_BENCH_FIELDS + EXTRA_FIELDS if k not in row]
        if missing:
            sys.exit(f"-o {fmt}: row lacks {missing}")
        if int(row["n_threads"]) != 1 or row["type_k"] != kv or row["type_v"] != kv:
            sys.exit(f"-o {fmt}: n_threads/type_k/type_v wrong: {row}")
        if int(row["peak_rss_bytes"]) <= 0 or float(row["load_time_ms"]) < 0 or float(row["avg_ts"]) <= 0:
            sys.exit(f"-o {fmt}: non-positive rss/load/avg_ts: {row}")
    if (int(rows[0]["n_prompt"]), int(rows[0]["n_gen"])) != (8, 0) or \
       (int(rows[1]["n_prompt"]), int(rows[1]["n_gen"])) != (0, 3):
        sys.exit(f"-o {fmt}: n_prompt/n_gen wrong")


def main():
    exe, model = sys.argv[1], sys.argv[2]
    if not os.path.exists(model):
        print(f"skip: {model} missing")
        return 77
    rows = json.loads(run(exe, model, "json", "--bandwidth", "12.5"))
    check_rows(rows, "json", "f16")
    # tg rows: weights read per token (at most the file, at least half of it for this
    # model, whose weights are all read each token), GB/s = t/s x bytes, and the share of
    # the --bandwidth given; pp rows carry zeros (every row has the keys: CSV stays aligned)
    size = os.path.getsize(model)
    if any(rows[0].get(k) != 0 for k in ("weight_bytes_per_token", "gbps", "bandwidth_fraction")):
        sys.exit(f"-o json: the pp row's tg-only fields should be 0: {rows[0]}")
    tg = rows[1]
    wb = tg.get("weight_bytes_per_token", 0)
    if not size / 2 < wb <= size:
        sys.exit(f"-o json: weight_bytes_per_token {wb} not within ({size / 2}, {size}]")
    if abs(tg["gbps"] - tg["avg_ts"] * wb / 1e9) > 1e-6 * tg["gbps"] or tg["bandwidth_gbps"] != 12.5 or \
       abs(tg["bandwidth_fraction"] - tg["gbps"] / 12.5) > 1e-9 * tg["bandwidth_fraction"]:
        sys.exit(f"-o json: gbps/bandwidth_fraction inconsistent: {tg}")
    for row in rows:
        if len(row["samples_ns"]) != 2 or len(row["samples_ts"]) != 2:
            sys.exit("-o json: samples_ns/samples_ts should have one entry per repetition (2)")
        mean_ts = sum(row["samples_ts"]) / 2
        if abs(mean_ts - row["avg_ts"]) > 1e-6 * mean_ts:
            sys.exit(f"-o json: avg_ts {row['avg_ts']} is not the mean of samples_ts {row['samples_ts']}")
    check_rows([json.loads(l) for l in run(exe, model, "jsonl", "--kv-f32").splitlines() if l.strip()],
               "jsonl", "f32")
    check_rows(list(csv.DictReader(io.StringIO(run(exe, model, "csv")))), "csv", "f16")
    print("ok: json, jsonl and csv rows have llama-bench's fields")
    return 0


if __name__ == "__main__":
    sys.exit(main())
