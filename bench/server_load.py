#!/usr/bin/env python3
"""Bounded load test of infer-server: N concurrent streaming clients for a fixed time.

    bench/server_load.py [-m MODEL] [--slots 1,2,4,8] [--clients N] [--seconds 5]
                         [--max-tokens 64] [-t THREADS] [--server build/infer-server]
                         [--engine infer|llama|both] [--llama-server PATH]

For each slot count it starts the server (infer-server: --port 0, CPU backend;
--engine llama: llama.cpp's llama-server on a free port with -np SLOTS, -c SLOTS*CTX so
each slot gets CTX, --cont-batching, ready when GET /health answers 200), runs `clients`
threads (default: as many as slots) that each send streaming chat requests back to back
until the time is up, and reports completed requests, generated tokens per second over
the whole run (all clients together), and the time to first token (first content event
after sending the request): the median of each client's first request (all clients start
at once: a burst of prompts evaluated together) and the median and 95th percentile of the
later ones (a prompt joining generations already running: the steady state). --engine
both runs infer-server and llama-server (--llama-server) alternately for each slot count,
side by side on the same machine state. Standard library only."""
import argparse
import http.client
import json
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def start(server, model, slots, threads, ctx, log):
    p = subprocess.Popen([server, "-m", model, "--port", "0", "-np", str(slots), "-t", str(threads), "-c", str(slots * ctx),
                          "--backend", "cpu", "--quiet", "--queue", "256"], stderr=log, stdout=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = pathlib.Path(log.name).read_text()
        m = re.search(r"listening on http://[^:]+:(\d+)", text)
        if m and "ready" in text:
            return p, int(m.group(1))
        if p.poll() is not None:
            raise SystemExit(f"infer-server failed:\n{text}")
        time.sleep(0.02)
    raise SystemExit("infer-server did not start")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama(server, model, slots, threads, ctx, log):
    """llama-server with the same file, threads and context per slot as infer-server."""
    port = free_port()
    p = subprocess.Popen([server, "-m", model, "--host", "127.0.0.1", "--port", str(port), "-np", str(slots),
                          "-t", str(threads), "-tb", str(threads), "-c", str(slots * ctx), "--cont-batching"],
                         stderr=log, stdout=log)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise SystemExit(f"llama-server failed:\n{pathlib.Path(log.name).read_text()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return p, port
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("llama-server did not start")


def client(port, max_tokens, stop_at, results, idx):
    n = 0
    while time.monotonic() < stop_at:
        body = json.dumps({"messages": [{"role": "user", "content": f"Tell story number {idx}-{n}"}],
                           "max_tokens": max_tokens, "temperature": 0.8, "seed": n, "stream": True,
                           "stream_options": {"include_usage": True}})
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        t0 = time.monotonic()
        conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
        resp = conn.getresponse()
        ttft, tokens, deltas = None, None, 0
        for line in resp:
            if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                continue
            ev = json.loads(line[6:])
            if ev.get("usage"):
                tokens = ev["usage"]["completion_tokens"]
            for c in ev.get("choices", []):
                if c.get("delta", {}).get("content"):
                    deltas += 1
                    if ttft is None:
                        ttft = time.monotonic() - t0
        conn.close()
        # usage's count when the server sends it, else one token per content event
        results.append((ttft, deltas if tokens is None else tokens, time.monotonic(), n == 0))
        n += 1


def pct(xs, q):
    xs = sorted(xs)
    return 1000 * xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def run(args, slots, engine):
    log = open(f"/tmp/server_load_{engine}_{slots}.log", "w")
    starter = start_llama if engine == "llama" else start
    server = args.llama_server if engine == "llama" and args.engine == "both" else args.server
    proc, port = starter(server, args.model, slots, args.threads, args.ctx, log)
    clients = args.clients or slots
    results = []
    t0 = time.monotonic()
    stop_at = t0 + args.seconds
    ts = [threading.Thread(target=client, args=(port, args.max_tokens, stop_at, results, i)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    first = [r[0] for r in results if r[0] is not None and r[3]]
    later = [r[0] for r in results if r[0] is not None and not r[3]]
    tokens = sum(r[1] for r in results)
    print(f"| {slots} | {engine} | {len(results)} | {tokens / wall:.0f} | {pct(first, 0.5):.0f} | "
          f"{pct(later, 0.5):.0f} / {pct(later, 0.95):.0f} ({len(later)}) |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-m", "--model", default=str(ROOT / "tests/data/models/stories260K.gguf"))
    ap.add_argument("--server", default=str(ROOT / "build/infer-server"))
    ap.add_argument("--engine", choices=["infer", "llama", "both"], default="infer",
                    help="llama: --server is llama.cpp's llama-server; both: alternate with --llama-server")
    ap.add_argument("--llama-server", default="llama-server")
    ap.add_argument("--slots", default="1,2,4,8")
    ap.add_argument("--clients", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("-t", "--threads", type=int, default=1)
    ap.add_argument("-c", "--ctx", type=int, default=512)
    args = ap.parse_args()
    print(f"{args.engine}: model {pathlib.Path(args.model).name}, {args.seconds:g} s per row, max_tokens {args.max_tokens}, "
          f"-t {args.threads}, -c {args.ctx}")
    print("| slots | engine | requests | gen tok/s (all clients) | TTFT burst p50 ms | TTFT steady p50 / p95 ms (n) |")
    print("|---:|---|---:|---:|---:|---:|")
    engines = ["infer", "llama"] if args.engine == "both" else [args.engine]
    for s in [int(x) for x in args.slots.split(",")]:
        for e in engines:
            run(args, s, e)


if __name__ == "__main__":
    main()
