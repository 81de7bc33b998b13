"""Constrained output and log-probabilities: response_format json_object / json_schema
and Ollama's format always give JSON that parses and meets the schema (checked with the
jsonschema validator); logprobs equal the log-softmax of llama.cpp's logits
(tests/data/golden/stories260K.logits.f32)."""
import array
import json
import math

import httpx
import jsonschema
import ollama
import openai

from conftest import ROOT

GOLDEN = ROOT / "tests" / "data" / "golden"
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 12},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
    },
    "required": ["name", "age", "pets"],
    "additionalProperties": False,
}


def oai(srv):
    return openai.OpenAI(base_url=srv.url + "/v1", api_key="x", max_retries=0)


def test_json_schema_always_met(server):
    c = oai(server)
    for seed in range(6):
        r = c.chat.completions.create(
            model="stories260K", messages=[{"role": "user", "content": "Describe a person"}], temperature=1.0, seed=seed,
            max_tokens=300, response_format={"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA}})
        assert r.choices[0].finish_reason == "stop", r.choices[0].message.content
        jsonschema.validate(json.loads(r.choices[0].message.content), SCHEMA)
    streamed = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
        model="stories260K", messages=[{"role": "user", "content": "Describe a person"}], temperature=1.0, seed=3,
        max_tokens=300, stream=True, response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}})
        if ch.choices)
    jsonschema.validate(json.loads(streamed), SCHEMA)


def test_json_object_and_ollama_format(server):
    # stories260K never closes a free-form object (its strings ramble on to the length
    # limit), so json_object is checked on its start; the schemas bound their strings.
    r = oai(server).chat.completions.create(model="stories260K", messages=[{"role": "user", "content": "hi"}],
                                            temperature=0.9, seed=1, max_tokens=40, response_format={"type": "json_object"})
    text = r.choices[0].message.content
    assert text.startswith("{") and (r.choices[0].finish_reason == "length" or isinstance(json.loads(text), dict))
    c = ollama.Client(host=server.url)
    o = c.chat(model="stories260K", messages=[{"role": "user", "content": "hi"}], format=SCHEMA,
               options={"temperature": 1.0, "seed": 5, "num_predict": 300})
    jsonschema.validate(json.loads(o.message.content), SCHEMA)
    g = c.generate(model="stories260K", prompt="Once", format=SCHEMA, options={"temperature": 1.0, "seed": 2, "num_predict": 300})
    jsonschema.validate(json.loads(g.response), SCHEMA)


def test_bad_schema_is_400(server):
    r = httpx.post(server.url + "/v1/chat/completions", json={
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "not": {}}}}})
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"
    r = httpx.post(server.url + "/api/chat", json={"model": "stories260K", "messages": [{"role": "user", "content": "x"}],
                                                   "format": "yaml"})
    assert r.status_code == 400


def log_softmax_row(row):
    m = max(row)
    z = math.log(sum(math.exp(x - m) for x in row)) + m
    return [x - z for x in row]


def test_logprobs_equal_reference(server):
    prompt = [int(t) for t in (GOLDEN / "stories260K.prompt.txt").read_text().split()]
    logits = array.array("f", (GOLDEN / "stories260K.logits.f32").read_bytes())
    nv = len(logits) // len(prompt)
    ref = log_softmax_row(logits[(len(prompt) - 1) * nv:])
    best = sorted(range(nv), key=lambda t: (-ref[t], t))[:5]
    r = httpx.post(server.url + "/v1/completions", json={
        "prompt": prompt, "max_tokens": 3, "temperature": 0, "logprobs": 5, "return_tokens": True}).json()
    ch = r["choices"][0]
    assert ch["tokens"][0] == best[0]
    lp = ch["logprobs"]
    assert len(lp["token_logprobs"]) == 3 and len(lp["top_logprobs"]) == 3
    assert abs(lp["token_logprobs"][0] - ref[best[0]]) < 1e-3
    assert sorted(lp["top_logprobs"][0].values(), reverse=True) == sorted(lp["top_logprobs"][0].values(), reverse=True)
    for got, want in zip(sorted(lp["top_logprobs"][0].values(), reverse=True), [ref[t] for t in best]):
        assert abs(got - want) < 1e-3
    # Chat shape through the official client, streaming and not.
    c = oai(server)
    msgs = [{"role": "user", "content": "hi"}]
    full = c.chat.completions.create(model="stories260K", messages=msgs, max_tokens=6, temperature=0, logprobs=True,
                                     top_logprobs=2)
    content = full.choices[0].logprobs.content
    assert len(content) == 6 and all(len(t.top_logprobs) == 2 and t.logprob <= 0 for t in content)
    assert all(abs(t.top_logprobs[0].logprob - t.logprob) < 1e-6 for t in content)   # greedy: the best token
    assert "".join(t.token for t in content) == full.choices[0].message.content
    streamed = [t for ch in c.chat.completions.create(model="stories260K", messages=msgs, max_tokens=6, temperature=0,
                                                      logprobs=True, top_logprobs=2, stream=True)
                if ch.choices and ch.choices[0].logprobs for t in ch.choices[0].logprobs.content]
    assert [(t.token, round(t.logprob, 5)) for t in streamed] == [(t.token, round(t.logprob, 5)) for t in content]
