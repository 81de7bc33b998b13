"""Ollama dialect, driven by the official `ollama` client and raw HTTP (NDJSON)."""
import json

import httpx
import ollama
import openai
import pytest

STATS = ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"]


def client(srv):
    return ollama.Client(host=srv.url)


def test_chat_stream_equals_non_stream(server):
    c = client(server)
    msgs = [{"role": "user", "content": "A cat and a dog"}]
    opts = {"temperature": 0, "num_predict": 30, "num_ctx": 512, "top_k": 40, "top_p": 0.9, "seed": 3}
    full = c.chat(model="stories260K", messages=msgs, options=opts, stream=False)
    assert full.done and full.done_reason == "length" and full.message.role == "assistant"
    assert full.eval_count == 30 and full.prompt_eval_count > 0
    assert full.total_duration >= full.eval_duration > 0 and full.prompt_eval_duration > 0
    parts = list(c.chat(model="stories260K", messages=msgs, options=opts, stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert "".join(p.message.content for p in parts) == full.message.content
    assert parts[-1].eval_count == 30


def test_chat_equals_openai_chat(server):
    """Both dialects render the same messages with the same template and sample alike."""
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "The moon"}]
    o = ollama.Client(host=server.url).chat(model="stories260K", messages=msgs,
                                            options={"temperature": 0, "num_predict": 25}).message.content
    a = openai.OpenAI(base_url=server.url + "/v1", api_key="x").chat.completions.create(
        model="stories260K", messages=msgs, temperature=0, max_tokens=25).choices[0].message.content
    assert o == a


def test_generate_raw_equals_openai_completion(server):
    o = client(server).generate(model="stories260K", prompt="Once upon a time", raw=True,
                                options={"temperature": 0, "num_predict": 30})
    a = openai.OpenAI(base_url=server.url + "/v1", api_key="x").completions.create(
        model="stories260K", prompt="Once upon a time", temperature=0, max_tokens=30).choices[0].text
    assert o.response == a and o.done_reason == "length"


def test_generate_stop_and_stream(server):
    c = client(server)
    base = c.generate(model="stories260K", prompt="Once upon a time", raw=True,
                      options={"temperature": 0, "num_predict": 40}).response
    assert "girl" in base
    cut = c.generate(model="stories260K", prompt="Once upon a time", raw=True,
                     options={"temperature": 0, "num_predict": 40, "stop": ["girl"]})
    assert cut.response == base[:base.index("girl")] and cut.done_reason == "stop"
    streamed = "".join(p.response for p in c.generate(model="stories260K", prompt="Once upon a time", raw=True,
                                                      options={"temperature": 0, "num_predict": 40}, stream=True))
    assert streamed == base


def test_ndjson_framing(server):
    with httpx.stream("POST", server.url + "/api/generate", json={
            "model": "stories260K", "prompt": "Once", "options": {"temperature": 0, "num_predict": 10}}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
        body = r.read().decode()
    assert body.endswith("\n")
    lines = [json.loads(l) for l in body.split("\n")[:-1]]
    assert all(l["done"] is False and "response" in l for l in lines[:-1])
    last = lines[-1]
    assert last["done"] is True and last["done_reason"] in ("stop", "length")
    for k in STATS:
        assert isinstance(last[k], int) and last[k] >= 0, k
    assert last["eval_count"] == 10


def test_load_only(server):
    r = httpx.post(server.url + "/api/generate", json={"model": "stories260K"}).json()
    assert r["done"] is True and r["done_reason"] == "load"


def test_listings(server):
    c = client(server)
    tags = c.list()
    assert [m.model for m in tags.models] == ["stories260K"]
    m = tags.models[0]
    assert m.size > 0 and m.details.format == "gguf" and m.details.family == "llama"
    assert m.details.quantization_level == "F32"
    show = c.show("stories260K")
    assert show.modelinfo["general.architecture"] == "llama"
    assert show.modelinfo["llama.context_length"] > 0
    assert [p.model for p in c.ps().models] == ["stories260K"]
    assert httpx.get(server.url + "/api/version").json()["version"]
    assert c.show("stories260K:latest").details.family == "llama"


def test_unknown_model(server):
    with pytest.raises(ollama.ResponseError) as e:
        client(server).chat(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404
    r = httpx.post(server.url + "/api/show", json={"model": "../stories260K"})
    assert r.status_code == 404 and isinstance(r.json()["error"], str)


def test_bad_options(server):
    r = httpx.post(server.url + "/api/chat", json={"model": "stories260K", "messages": [{"role": "user", "content": "x"}],
                                                   "options": {"temperature": "hot"}})
    assert r.status_code == 400 and "temperature" in r.json()["error"]
    r = httpx.post(server.url + "/api/chat", json={"model": "stories260K", "messages": "hi"})
    assert r.status_code == 400 and "messages" in r.json()["error"]
