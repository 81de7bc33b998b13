"""--models-dir: every *.gguf is a model named by its file name; a request loads the model
it names and unloads the least recently used idle one beyond --mem-budget; names are
only matched against the folder's listing, so none reaches outside it."""
import os
import shutil

import httpx
import ollama
import pytest

from conftest import MODELS


def test_models_dir_lru(start_server, tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    shutil.copy(MODELS / "stories260K.gguf", d / "story-a.gguf")
    shutil.copy(MODELS / "stories260K.gguf", d / "story-b.gguf")
    shutil.copy(MODELS / "synth-llama-Q4_0.gguf", d / "llama-q4.gguf")
    (d / "notes.txt").write_text("not a model")
    (tmp_path / "secret.gguf").write_bytes((MODELS / "stories260K.gguf").read_bytes())
    # Each file is 1.2-1.6 MB: a 2 MiB budget holds one model at a time.
    srv = start_server("--models-dir", d, "--mem-budget", "2", model=None)
    c = ollama.Client(host=srv.url)
    names = sorted(m.model for m in c.list().models)
    assert names == ["llama-q4", "story-a", "story-b"]
    q4 = next(m for m in c.list().models if m.model == "llama-q4")
    assert q4.details.quantization_level == "Q4_0"

    def gen(model):
        return c.generate(model=model, prompt="Once upon a time", raw=True, options={"temperature": 0, "num_predict": 8})

    a = gen("story-a")
    assert a.eval_count > 0
    assert [m.model for m in c.ps().models] == ["story-a"]
    b = gen("story-b")
    assert b.response == a.response   # same file, same greedy text
    assert [m.model for m in c.ps().models] == ["story-b"]
    assert gen("llama-q4").eval_count > 0
    assert [m.model for m in c.ps().models] == ["llama-q4"]
    assert "unloading model story-a" in srv.output()

    # Names that try to leave the folder, or are not listed, are unknown models.
    for bad in ["../secret", "/etc/passwd", "story-a.gguf", "..", "", "story-a/../story-b", "notes"]:
        r = httpx.post(srv.url + "/v1/completions", json={"model": bad, "prompt": "x", "max_tokens": 1})
        if bad == "":
            assert r.status_code == 200   # no name: the default model
        else:
            assert r.status_code == 404, (bad, r.text)
    ids = [m["id"] for m in httpx.get(srv.url + "/v1/models").json()["data"]]
    assert sorted(ids) == ["llama-q4", "story-a", "story-b"]


def test_m_model_is_listed_with_dir(start_server, tmp_path):
    d = tmp_path / "models"
    d.mkdir()
    os.symlink(MODELS / "synth-qwen2-Q4_K_M.gguf", d / "qwen.gguf")
    srv = start_server("--models-dir", d)
    ids = sorted(m["id"] for m in httpx.get(srv.url + "/v1/models").json()["data"])
    assert ids == ["qwen", "stories260K"]
    r = httpx.post(srv.url + "/v1/chat/completions", json={
        "model": "qwen", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "temperature": 0})
    assert r.status_code == 200 and r.json()["model"] == "qwen"


def test_streaming_model_is_not_unloaded(start_server, tmp_path):
    """A model with a stream still running stays loaded when another one is requested."""
    d = tmp_path / "models"
    d.mkdir()
    shutil.copy(MODELS / "stories260K.gguf", d / "a.gguf")
    shutil.copy(MODELS / "stories260K.gguf", d / "b.gguf")
    srv = start_server("--models-dir", d, "--mem-budget", "2", "-c", "4096", model=None)
    with httpx.stream("POST", srv.url + "/v1/completions", json={
            "model": "a", "prompt": "Once", "max_tokens": 3000, "temperature": 1, "stream": True}) as s:
        lines = s.iter_lines()
        assert next(lines).startswith("data: ")
        r = httpx.post(srv.url + "/v1/completions", json={"model": "b", "prompt": "Once", "max_tokens": 4})
        assert r.status_code == 200
        # Over budget: the idle one (b, just used) goes; a, streaming, stays.
        assert [m["model"] for m in httpx.get(srv.url + "/api/ps").json()["models"]] == ["a"]
        body = "\n".join(lines)
    assert body.rstrip().endswith("data: [DONE]")
    cancelled = [l for l in httpx.get(srv.url + "/metrics").text.splitlines()
                 if l.startswith('infer_generations_total{result="cancelled"}')]
    assert cancelled == ['infer_generations_total{result="cancelled"} 0']
    # Once the stream is over, the next request may evict the idle model.
    httpx.post(srv.url + "/v1/completions", json={"model": "b", "prompt": "Once", "max_tokens": 1})
    assert [m["model"] for m in httpx.get(srv.url + "/api/ps").json()["models"]] == ["b"]
