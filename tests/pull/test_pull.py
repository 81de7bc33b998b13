"""infer-pull against a local HTTP server (tests/pull/server.py): plain downloads, Range
resume after a broken connection (and restart when the server ignores Range), a stalled
transfer, a slow one with progress lines, SHA-256 verification from the catalog, --sha256
and the server's X-Linked-Etag (a mismatch deletes the download), 404, offline, a write
that fails (file size limit: what a full disk gives), split models, --list / --rm, the bar
redrawn on a terminal (a pty), and
infer-cli -m NAME resolving through the cache. Never a partial file under a final name.

Environment: INFER_TOOLS_DIR (build directory with infer-pull and infer-cli), MODEL (a
small GGUF, served for the infer-cli check)."""
import hashlib
import json
import os
import resource
import signal
import socket
import subprocess

import pytest

from server import Server

TOOLS = os.environ.get("INFER_TOOLS_DIR", "build")
PULL = os.path.join(TOOLS, "infer-pull")
CLI = os.path.join(TOOLS, "infer-cli")
MODEL = os.environ.get("MODEL", "")

BIG = bytes((i * 7919 + (i >> 8)) & 0xFF for i in range(3 * 1024 * 1024 + 123))
SMALL = bytes(range(256)) * 2048  # 512 KiB


@pytest.fixture
def env(tmp_path):
    files = {"model.gguf": BIG, "small.gguf": SMALL}
    for k in (1, 2, 3):
        files["split-%05d-of-00003.gguf" % k] = bytes([k]) * (100000 + k)
    if MODEL and os.path.exists(MODEL):
        with open(MODEL, "rb") as f:
            files["stories260K.gguf"] = f.read()
    srv = Server(files)
    cache = tmp_path / "cache"
    e = dict(os.environ)
    e.update(INFER_CACHE=str(cache), INFER_HF_ENDPOINT=srv.url, INFER_PULL_STALL_S="1",
             INFER_CATALOG=str(tmp_path / "catalog.json"))
    e.pop("HF_TOKEN", None)
    yield {"srv": srv, "cache": cache, "env": e, "tmp": tmp_path}
    srv.close()


def run(env, *args, preexec=None):
    return subprocess.run([PULL, *args], env=env["env"], capture_output=True, text=True, timeout=60,
                          preexec_fn=preexec)


def listing(cache):
    return sorted(os.listdir(cache)) if os.path.isdir(cache) else []


def test_plain_download_prints_path_and_is_complete(env):
    r = run(env, env["srv"].url + "/range/model.gguf")
    assert r.returncode == 0, r.stderr
    path = env["cache"] / "model.gguf"
    assert r.stdout.strip() == str(path)
    assert path.read_bytes() == BIG
    assert listing(env["cache"]) == ["model.gguf"]
    # plain progress lines (stderr is not a terminal): no carriage-return redraws
    assert "\r" not in r.stderr and "model.gguf" in r.stderr
    # a second pull does not download again
    n = len(env["srv"].log)
    r = run(env, env["srv"].url + "/range/model.gguf")
    assert r.returncode == 0 and "already downloaded" in r.stderr and len(env["srv"].log) == n


def test_cut_connection_resumes_with_range(env):
    r = run(env, env["srv"].url + "/cut/model.gguf")
    assert r.returncode == 0, r.stderr
    assert (env["cache"] / "model.gguf").read_bytes() == BIG
    ranges = [rng for path, rng in env["srv"].log if path.endswith("model.gguf")]
    assert ranges[0] is None and ranges[1] == "bytes=%d-" % (len(BIG) // 2), ranges
    assert "resuming at" in r.stderr


def test_cut_without_range_support_restarts(env):
    r = run(env, env["srv"].url + "/cutnorange/model.gguf")
    assert r.returncode == 0, r.stderr
    assert (env["cache"] / "model.gguf").read_bytes() == BIG
    assert listing(env["cache"]) == ["model.gguf"]


def test_interrupted_download_leaves_only_part_then_resumes(env):
    # no retries: the cut leaves FILE.part, never FILE
    r = run(env, env["srv"].url + "/cut/model.gguf", "--retries", "0")
    assert r.returncode == 1 and "run again to resume" in r.stderr
    assert listing(env["cache"]) == ["model.gguf.part"]
    assert (env["cache"] / "model.gguf.part").stat().st_size == len(BIG) // 2
    r = run(env, "--list")
    assert "model.gguf.part" in r.stdout and "incomplete" in r.stdout
    r = run(env, env["srv"].url + "/cut/model.gguf")
    assert r.returncode == 0, r.stderr
    assert (env["cache"] / "model.gguf").read_bytes() == BIG
    assert env["srv"].log[-1][1] == "bytes=%d-" % (len(BIG) // 2)


def test_stalled_transfer_times_out_and_resumes(env):
    r = run(env, env["srv"].url + "/stall/small.gguf")
    assert r.returncode == 0, r.stderr
    assert (env["cache"] / "small.gguf").read_bytes() == SMALL
    assert "retrying" in r.stderr


def test_slow_server_shows_progress(env):
    r = run(env, env["srv"].url + "/slow/small.gguf")
    assert r.returncode == 0, r.stderr
    assert (env["cache"] / "small.gguf").read_bytes() == SMALL
    lines = [l for l in r.stderr.splitlines() if "small.gguf:" in l and "/s" in l]
    assert len(lines) >= 2, r.stderr  # at least one interim line and the final one
    assert "%" in lines[0]


def test_server_sha256_verified(env):
    r = run(env, env["srv"].url + "/sha/small.gguf")
    assert r.returncode == 0 and "SHA-256 verified" in r.stderr, r.stderr


def test_wrong_checksum_deletes_download(env):
    r = run(env, env["srv"].url + "/badsha/small.gguf")
    assert r.returncode == 1
    assert "SHA-256 mismatch" in r.stderr and "deleted" in r.stderr
    assert listing(env["cache"]) == []
    # --sha256 on the command line, wrong too
    r = run(env, env["srv"].url + "/range/small.gguf", "--sha256", "ab" * 32)
    assert r.returncode == 1 and "SHA-256 mismatch" in r.stderr
    assert listing(env["cache"]) == []


def test_catalog_name_with_checksum_and_size(env):
    cat = {"models": {
        "tiny": {"url": env["srv"].url + "/range/small.gguf", "sha256": hashlib.sha256(SMALL).hexdigest(),
                 "size": len(SMALL)},
        "tiny-bad": {"url": env["srv"].url + "/range/model.gguf", "size": len(BIG) + 1},
    }}
    (env["tmp"] / "catalog.json").write_text(json.dumps(cat))
    r = run(env, "tiny")
    assert r.returncode == 0 and "SHA-256 verified" in r.stderr, r.stderr
    r = run(env, "tiny-bad")
    assert r.returncode == 1 and "size mismatch" in r.stderr
    assert not (env["cache"] / "model.gguf").exists() and not (env["cache"] / "model.gguf.part").exists()
    r = run(env, "--catalog")
    assert "tiny" in r.stdout
    r = run(env, "no-such-name")
    assert r.returncode == 1 and "unknown model 'no-such-name'" in r.stderr


def test_not_found(env):
    r = run(env, env["srv"].url + "/range/missing.gguf")
    assert r.returncode == 1 and "not found (HTTP 404)" in r.stderr
    assert listing(env["cache"]) == []
    r = run(env, "owner/repo:missing.gguf")
    assert r.returncode == 1 and "HTTP 404" in r.stderr and "/owner/repo/resolve/main/missing.gguf" in r.stderr


def test_offline(env):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = run(env, "http://127.0.0.1:%d/range/model.gguf" % port)
    assert r.returncode == 1 and "cannot connect to 127.0.0.1" in r.stderr and "offline" in r.stderr
    assert listing(env["cache"]) == []


def test_write_failure_is_reported(env):
    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    r = run(env, env["srv"].url + "/range/model.gguf", preexec=limit)
    assert r.returncode == 1 and "writing" in r.stderr and "File too large" in r.stderr, r.stderr
    assert not (env["cache"] / "model.gguf").exists()


def test_split_model_fetches_all_parts_and_rm_removes_them(env):
    r = run(env, env["srv"].url + "/range/split-00001-of-00003.gguf")
    assert r.returncode == 0, r.stderr
    assert listing(env["cache"]) == ["split-%05d-of-00003.gguf" % k for k in (1, 2, 3)]
    for k in (1, 2, 3):
        assert (env["cache"] / ("split-%05d-of-00003.gguf" % k)).read_bytes() == bytes([k]) * (100000 + k)
    r = run(env, "--list")
    assert "3 file(s)" in r.stdout
    r = run(env, "--rm", "split-00001-of-00003.gguf")
    assert r.returncode == 0 and r.stdout.count("removed") == 3
    assert listing(env["cache"]) == []
    r = run(env, "--rm", "split-00001-of-00003.gguf")
    assert r.returncode == 1 and "not in the cache" in r.stderr


@pytest.mark.skipif(not (MODEL and os.path.exists(MODEL)), reason="MODEL (stories260K.gguf) absent")
def test_hf_reference_and_infer_cli_by_name(env):
    ref = "karpathy/tinyllamas:stories260K.gguf"
    r = subprocess.run([CLI, "-m", ref, "-p", "Once", "-n", "4"], env=env["env"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "run infer-pull " + ref in r.stderr
    r = run(env, ref)
    assert r.returncode == 0 and "SHA-256 verified" in r.stderr, r.stderr
    assert env["srv"].log[-1][0] == "/karpathy/tinyllamas/resolve/main/stories260K.gguf"
    r = subprocess.run([CLI, "-m", ref, "-p", "Once", "-n", "4"], env=env["env"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Once")


def test_terminal_gets_a_redrawn_bar(env):
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([PULL, env["srv"].url + "/slow/small.gguf"], env=env["env"], stdout=subprocess.PIPE,
                         stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        out += chunk
    p.wait(timeout=60)
    os.close(master)
    text = out.decode("utf-8", "replace")
    assert p.returncode == 0, text
    assert "\r" in text and "[###" in text and "512.0 KiB" in text, text
