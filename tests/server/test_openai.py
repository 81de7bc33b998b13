"""OpenAI dialect, driven by the official `openai` client and raw HTTP.

Greedy output is checked against outside references: llama.cpp's greedy token ids for
stories260K (tests/data/golden, made by llama.cpp) and infer-cli's text for the same
prompt (infer-cli is itself checked against llama.cpp by the golden tests)."""
import concurrent.futures
import json
import subprocess

import httpx
import openai
import pytest

from conftest import CLI, MODEL, ROOT

GOLDEN = ROOT / "tests" / "data" / "golden"


def client(srv, **kw):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key=kw.pop("api_key", "none"), max_retries=0, **kw)


def test_models_list(server):
    ids = [m.id for m in client(server).models.list()]
    assert ids == ["stories260K"]


def test_greedy_ids_equal_llama_cpp(server):
    prompt = [int(t) for t in (GOLDEN / "stories260K.prompt.txt").read_text().split()]
    want = [int(t) for t in (GOLDEN / "stories260K.greedy.txt").read_text().split()]
    r = httpx.post(server.url + "/v1/completions", json={
        "model": "stories260K", "prompt": prompt, "max_tokens": len(want), "temperature": 0, "return_tokens": True})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    assert choice["tokens"] == want
    assert r.json()["usage"]["prompt_tokens"] == len(prompt)
    assert r.json()["usage"]["completion_tokens"] == len(want)


def cli_greedy(prompt, n):
    out = subprocess.run([CLI, "-m", str(MODEL), "-p", prompt, "-n", str(n), "--temp", "0", "-t", "1",
                          "--backend", "cpu", "-c", "512"], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.startswith(prompt) and out.endswith("\n")
    return out[len(prompt):-1]


@pytest.mark.parametrize("prompt", ["Once upon a time", "The little dog"])
def test_greedy_text_equals_infer_cli(server, prompt):
    want = cli_greedy(prompt, 48)
    got = client(server).completions.create(model="stories260K", prompt=prompt, max_tokens=48, temperature=0)
    assert got.choices[0].text == want
    assert got.usage.completion_tokens == 48 or got.choices[0].finish_reason == "stop"


def chat(srv, messages, **kw):
    return client(srv).chat.completions.create(model="stories260K", messages=messages, **kw)


def test_chat_stream_equals_non_stream(server):
    msgs = [{"role": "system", "content": "Tell a story."}, {"role": "user", "content": "A cat and a dog"}]
    full = chat(server, msgs, max_tokens=40, temperature=0)
    text = full.choices[0].message.content
    assert full.object == "chat.completion" and full.choices[0].message.role == "assistant"
    assert full.usage.completion_tokens == 40 and full.choices[0].finish_reason == "length"
    assert full.usage.total_tokens == full.usage.prompt_tokens + 40
    pieces, finish, usage, roles = [], None, None, []
    for ch in chat(server, msgs, max_tokens=40, temperature=0, stream=True, stream_options={"include_usage": True}):
        assert ch.object == "chat.completion.chunk"
        if ch.usage:
            usage = ch.usage
        for c in ch.choices:
            if c.delta.role:
                roles.append(c.delta.role)
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    assert "".join(pieces) == text
    assert roles == ["assistant"] and finish == "length"
    assert usage.completion_tokens == 40 and usage.prompt_tokens == full.usage.prompt_tokens


def test_completion_stream_equals_non_stream(server):
    c = client(server)
    full = c.completions.create(model="stories260K", prompt="Once upon a time", max_tokens=30, temperature=0)
    parts = [ch.choices[0].text for ch in c.completions.create(
        model="stories260K", prompt="Once upon a time", max_tokens=30, temperature=0, stream=True) if ch.choices]
    assert "".join(parts) == full.choices[0].text


def test_parallel_equals_sequential(start_server):
    srv = start_server("-np", "4", "-c", "1024")
    prompts = ["Once upon a time", "The sun was", "Tom had a", "In the park", "A big red", "Lily said"]
    seq = [client(srv).completions.create(model="stories260K", prompt=p, max_tokens=40, temperature=0).choices[0].text
           for p in prompts]
    with concurrent.futures.ThreadPoolExecutor(len(prompts)) as ex:
        par = list(ex.map(lambda p: client(srv).completions.create(
            model="stories260K", prompt=p, max_tokens=40, temperature=0).choices[0].text, prompts))
    assert par == seq


def test_stop_string(server):
    c = client(server)
    text = c.completions.create(model="stories260K", prompt="Once upon a time", max_tokens=40, temperature=0).choices[0].text
    word = "girl"
    assert word in text
    got = c.completions.create(model="stories260K", prompt="Once upon a time", max_tokens=40, temperature=0,
                               stop=["zzz", word])
    assert got.choices[0].text == text[:text.index(word)]
    assert got.choices[0].finish_reason == "stop"
    streamed = "".join(ch.choices[0].text for ch in c.completions.create(
        model="stories260K", prompt="Once upon a time", max_tokens=40, temperature=0, stop=word, stream=True)
        if ch.choices)
    assert streamed == got.choices[0].text


def test_max_tokens_and_seed(server):
    c = client(server)
    z = c.completions.create(model="stories260K", prompt="Once", max_tokens=0)
    assert z.usage.completion_tokens == 0 and z.choices[0].text == "" and z.choices[0].finish_reason == "length"
    r = chat(server, [{"role": "user", "content": "hi"}], max_completion_tokens=5, temperature=0)
    assert r.usage.completion_tokens == 5 and r.choices[0].finish_reason == "length"
    a = c.completions.create(model="stories260K", prompt="Once", max_tokens=30, temperature=1.0, seed=42, top_p=0.9)
    b = c.completions.create(model="stories260K", prompt="Once", max_tokens=30, temperature=1.0, seed=42, top_p=0.9)
    assert a.choices[0].text == b.choices[0].text
    p = c.completions.create(model="stories260K", prompt="Once", max_tokens=30, temperature=0,
                             presence_penalty=1.5, frequency_penalty=1.0)
    assert p.usage.completion_tokens > 0


def test_multi_turn_reuses_prefix(start_server):
    srv = start_server("-np", "2", "-c", "1024")
    msgs = [{"role": "user", "content": "Tell me about a cat"}]
    first = chat(srv, msgs, max_tokens=20, temperature=0)
    msgs += [{"role": "assistant", "content": first.choices[0].message.content},
             {"role": "user", "content": "And then?"}]
    second = chat(srv, msgs, max_tokens=20, temperature=0)
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= first.usage.prompt_tokens - 1, (cached, first.usage.prompt_tokens)


def test_sse_framing(server):
    with httpx.stream("POST", server.url + "/v1/chat/completions", json={
            "model": "stories260K", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 12,
            "temperature": 0, "stream": True}) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    events = body.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    for ev in events[:-2]:
        assert ev.startswith("data: ") and "\n" not in ev
        obj = json.loads(ev[6:])
        assert obj["object"] == "chat.completion.chunk" and len(obj["choices"]) == 1


def test_metrics_exposition(server):
    client(server).completions.create(model="stories260K", prompt="Once", max_tokens=3, temperature=0)
    text = httpx.get(server.url + "/metrics").text
    values = {}
    for line in text.splitlines():
        if line.startswith("#"):
            assert line.startswith("# HELP ") or line.startswith("# TYPE ")
            continue
        name, value = line.rsplit(" ", 1)
        values[name] = float(value)
    assert values['infer_requests_total{code="2xx"}'] >= 1
    assert values["infer_generated_tokens_total"] >= 3
    assert values["infer_slots_total"] == 2
    assert values["infer_time_to_first_token_seconds_count"] >= 1
    assert "infer_queue_length" in values and "infer_slots_busy" in values


def test_shared_system_prompt_is_copied_between_slots(start_server):
    """A busy slot's cached system prompt is copied into the slot a new request gets."""
    srv = start_server("-np", "2", "-c", "8192")
    system = "You are a storyteller. " * 12   # well over the 32 tokens that make a copy worth it
    first = {"model": "stories260K", "messages": [{"role": "system", "content": system}, {"role": "user", "content": "A"}],
             "max_tokens": 3000, "temperature": 1, "stream": True}
    with httpx.stream("POST", srv.url + "/v1/chat/completions", json=first) as s:
        lines = s.iter_lines()
        assert next(lines).startswith("data: ")   # the first slot is now busy generating
        second = client(srv).chat.completions.create(
            model="stories260K", messages=[{"role": "system", "content": system}, {"role": "user", "content": "B"}],
            max_tokens=4, temperature=0)
    assert second.usage.prompt_tokens_details.cached_tokens >= 32, second.usage


def test_ctx_is_shared_by_the_slots(start_server):
    """-c is the context of all slots together, divided by -np (llama-server's meaning)."""
    srv = start_server("-np", "4", "-c", "1024")
    assert "4 slots of 256 tokens" in srv.output()
    long_prompt = "Once upon a time there was a little cat. " * 40   # about 400 tokens
    r = httpx.post(srv.url + "/v1/completions", json={"prompt": long_prompt, "max_tokens": 1}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    assert "256" in r.json()["error"]["message"]
    ok = httpx.post(srv.url + "/v1/completions", json={"prompt": "Once upon a time", "max_tokens": 2}, timeout=30)
    assert ok.status_code == 200
