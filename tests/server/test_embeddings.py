"""/v1/embeddings and /api/embed against the reference engine's final-norm activations
(tests/data/layers/stories260K/result_norm.f32, made by llama.cpp): mean-pooled over the
tokens and L2-normalized here, as both APIs return embeddings."""
import array
import math

import httpx
import ollama
import openai

from conftest import ROOT

LAYERS = ROOT / "tests" / "data" / "layers" / "stories260K"


def reference():
    ids = [int(t) for t in (LAYERS / "prompt16.txt").read_text().split()][:16]
    rows = array.array("f", (LAYERS / "result_norm.f32").read_bytes())
    e = len(rows) // 16
    mean = [sum(rows[t * e + i] for t in range(16)) / 16 for i in range(e)]
    norm = math.sqrt(sum(x * x for x in mean))
    return ids, [x / norm for x in mean]


def close(a, b, tol=1e-4):
    err = math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b))) / math.sqrt(sum(y * y for y in b))
    assert len(a) == len(b) and err <= tol, err


def test_embeddings_equal_reference(server):
    ids, want = reference()
    r = httpx.post(server.url + "/v1/embeddings", json={"model": "stories260K", "input": ids, "encoding_format": "float"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "list" and body["usage"]["prompt_tokens"] == 16
    close(body["data"][0]["embedding"], want)
    # The official client asks for base64 and decodes it.
    got = openai.OpenAI(base_url=server.url + "/v1", api_key="x").embeddings.create(model="stories260K", input=[ids, ids])
    assert len(got.data) == 2
    close(got.data[1].embedding, want)


def test_ollama_embed_equals_openai(server):
    texts = ["Once upon a time", "The dog ran"]
    o = ollama.Client(host=server.url).embed(model="stories260K", input=texts)
    a = httpx.post(server.url + "/v1/embeddings", json={"input": texts, "encoding_format": "float"}).json()
    assert len(o.embeddings) == 2 and o.prompt_eval_count > 0
    for x, y in zip(o.embeddings, a["data"]):
        close(x, y["embedding"], 1e-6)
        assert abs(math.sqrt(sum(v * v for v in x)) - 1) < 1e-5
    assert o.embeddings[0] != o.embeddings[1]


def test_embedding_errors(server):
    for body in [{}, {"input": 5}, {"input": []}, {"input": [[]]}, {"input": [1, "x"]}, {"input": [-1]},
                 {"input": "x", "encoding_format": "hex"}]:
        r = httpx.post(server.url + "/v1/embeddings", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] in ("input", "encoding_format"), (body, r.text)
    long = "one two three " * 400
    r = httpx.post(server.url + "/v1/embeddings", json={"input": long})
    assert r.status_code == 400 and r.json()["error"]["code"] == "context_length_exceeded"
    r = httpx.post(server.url + "/api/embed", json={"model": "stories260K", "input": long, "truncate": False})
    assert r.status_code == 400
    r = httpx.post(server.url + "/api/embed", json={"model": "stories260K", "input": long})
    assert r.status_code == 200 and r.json()["prompt_eval_count"] == 512
