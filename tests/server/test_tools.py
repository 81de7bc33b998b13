"""Tools in chat requests (OpenAI and Ollama): the conversation (tools offered, assistant
tool calls, tool results) rendered with the model's own template through the server is
checked byte for byte against jinja2's renderings (../shared chat-templates corpus, the
Qwen2.5 template set into a copy of the bundled model); replies with tools offered stream
the same text as they answer whole; bad tools/tool_choice are refused. With the real
Qwen2.5-Coder (INFER_REAL_MODELS=1 and the file present) the model's call is parsed into
tool_calls in both dialects and streamed, and the tool result is fed back."""
import json
import os
import pathlib

import httpx
import ollama
import openai
import pytest

from conftest import MODEL, ROOT
from gguf_edit import with_chat_template

CORPUS = ROOT.parent / "shared" / "testdata" / "chat-templates"
QWEN25 = "Qwen-Qwen2.5-7B-Instruct"
REAL = pathlib.Path(os.environ.get("INFER_MODELS", pathlib.Path.home() / ".cache" / "libinfer" / "models")) / \
    "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"

MODEL_NAME = "stories-qwen-template"
WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "The city name"}},
                   "required": ["city"]}}}]


@pytest.fixture(scope="module")
def qwen_templated(tmp_path_factory):
    """The bundled model with Qwen2.5's chat template (Hermes <tool_call> blocks)."""
    tpl = CORPUS / "templates" / f"{QWEN25}.jinja"
    if not tpl.exists():
        pytest.skip(f"no chat-template corpus at {CORPUS}")
    path = tmp_path_factory.mktemp("tpl") / "stories-qwen-template.gguf"
    with_chat_template(MODEL, path, tpl.read_text(encoding="utf-8"))
    return path


@pytest.fixture
def tsrv(start_server, qwen_templated):
    return start_server("-np", "1", "-c", "1024", model=qwen_templated)


# OpenAI sends a call's arguments as JSON text; the template is given the object it encodes
# (as llama.cpp does: templates are written for objects), so that conversation renders as
# the one with object arguments does.
@pytest.mark.parametrize("conv,expect", [("tools_available", None), ("tool_call_dict_args", None),
                                         ("tool_call_json_args", "tool_call_dict_args"),
                                         ("tool_result_null_content", None)])
def test_rendered_prompt_equals_jinja2(tsrv, conv, expect):
    c = json.loads((CORPUS / "conversations" / f"{conv}.json").read_text(encoding="utf-8"))
    assert c.get("add_generation_prompt", True)
    expected = (CORPUS / "expected" / QWEN25 / f"{expect or conv}.txt").read_bytes().decode("utf-8")
    body = {"messages": c["messages"]}
    if c.get("tools"):
        body["tools"] = c["tools"]
    r = httpx.post(tsrv.url + "/apply-template", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["prompt"] == expected


def test_tool_choice_none_and_named(tsrv):
    msgs = [{"role": "user", "content": "Weather in Paris?"}]
    two = WEATHER + [{"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}]

    def prompt(**kw):
        r = httpx.post(tsrv.url + "/apply-template", json={"messages": msgs, **kw}, timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["prompt"]

    plain = prompt()
    assert "<tools>" not in plain
    assert prompt(tools=two, tool_choice="none") == plain
    both = prompt(tools=two)
    assert '"name": "get_weather"' in both and '"name": "search"' in both
    named = prompt(tools=two, tool_choice={"type": "function", "function": {"name": "search"}})
    assert '"name": "search"' in named and "get_weather" not in named


def test_reply_with_tools_streams_like_whole(tsrv):
    """The bundled model never writes a call: the held-back reply comes out as text, the
    same streamed as whole, no tool_calls; the tools are in the prompt it saw."""
    c = openai.OpenAI(base_url=tsrv.url + "/v1", api_key="x", max_retries=0)
    msgs = [{"role": "user", "content": "Once upon a time"}]
    kw = dict(model=MODEL_NAME, messages=msgs, temperature=0, max_tokens=24, seed=1)
    bare = c.chat.completions.create(**kw)
    whole = c.chat.completions.create(tools=WEATHER, **kw)
    assert whole.usage.prompt_tokens > bare.usage.prompt_tokens + 20   # the tool list
    m = whole.choices[0].message
    assert m.tool_calls is None and m.content
    assert whole.choices[0].finish_reason in ("length", "stop")
    parts, finish = [], None
    for ch in c.chat.completions.create(stream=True, tools=WEATHER, **kw):
        if ch.choices:
            d = ch.choices[0].delta
            assert not d.tool_calls
            parts.append(d.content or "")
            finish = ch.choices[0].finish_reason or finish
    assert "".join(parts) == m.content
    assert finish == whole.choices[0].finish_reason


def test_text_streams_before_the_end_with_tools(tsrv):
    """Text that cannot start a tool call is streamed as it comes (not held to the end):
    a long reply arrives in several content deltas, as it does without tools."""
    c = openai.OpenAI(base_url=tsrv.url + "/v1", api_key="x", max_retries=0)
    stream = c.chat.completions.create(model=MODEL_NAME, messages=[{"role": "user", "content": "Once upon a time"}],
                                       tools=WEATHER, temperature=0, max_tokens=400, seed=1, stream=True)
    deltas = [ch.choices[0].delta.content for ch in stream if ch.choices and ch.choices[0].delta.content]
    assert len(deltas) >= 2 and not "".join(deltas).lstrip().startswith(("{", "[", "<tool_call>"))


def test_ollama_text_streams_with_tools(tsrv):
    """Ollama's stream with tools: the text comes in pieces as it is generated, and the
    pieces add up to the whole (non-streamed) answer."""
    cl = ollama.Client(host=tsrv.url)
    kw = dict(model=MODEL_NAME, messages=[{"role": "user", "content": "Once upon a time"}], tools=WEATHER,
              options={"temperature": 0, "num_predict": 300, "seed": 1})
    whole = cl.chat(**kw).message.content
    pieces = [p.message.content for p in cl.chat(stream=True, **kw) if p.message.content]
    assert len(pieces) >= 2 and "".join(pieces) == whole


def test_ollama_tool_messages(tsrv):
    """Ollama's shapes: arguments as an object, the tool result with tool_name."""
    cl = ollama.Client(host=tsrv.url)
    msgs = [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "",
             "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": "22 C, sunny", "tool_name": "get_weather"}]
    r = cl.chat(model=MODEL_NAME, messages=msgs, tools=WEATHER, options={"temperature": 0, "num_predict": 8})
    assert r.done and r.message.role == "assistant" and r.message.content
    assert r.prompt_eval_count > 60
    r = httpx.post(tsrv.url + "/apply-template", json={"messages": msgs, "tools": WEATHER}, timeout=30).json()["prompt"]
    assert '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>' in r
    assert "<tool_response>\n22 C, sunny\n</tool_response>" in r


@pytest.mark.parametrize("body,param", [
    ({"tools": {"type": "function"}}, "tools"),
    ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools"),
    ({"tools": WEATHER, "tool_choice": "required", "response_format": {"type": "json_object"}}, "tool_choice"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "not": {}}}}],
      "tool_choice": "required"}, "tools"),
    ({"tools": WEATHER, "tool_choice": "sometimes"}, "tool_choice"),
    ({"tools": WEATHER, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"function": {"arguments": "{}"}}]}]},
     "messages"),
])
def test_bad_tools_refused(server, body, param):
    req = {"messages": [{"role": "user", "content": "hi"}], **body}
    r = httpx.post(server.url + "/v1/chat/completions", json=req, timeout=30)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["param"] == param


def test_tools_need_chat(server):
    r = httpx.post(server.url + "/v1/completions", json={"prompt": "hi", "tools": WEATHER}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tools"
    r = httpx.post(server.url + "/api/generate", json={"prompt": "hi", "tools": WEATHER}, timeout=30)
    assert r.status_code == 400


# ---------------------------------------------------------------- the real model

@pytest.fixture(scope="module")
def real(tmp_path_factory):
    if os.environ.get("INFER_REAL_MODELS") != "1" or not REAL.exists():
        pytest.skip(f"needs INFER_REAL_MODELS=1 and {REAL} (scripts/fetch-models.sh qwen2.5-coder-1.5b)")
    from conftest import Server
    s = Server(["-m", str(REAL), "-np", "1", "-c", "2048", "-t", "2"], tmp_path_factory.mktemp("real"))
    yield s
    assert s.stop() == 0, s.output()[-4000:]


ASK = [{"role": "user", "content": "What is the weather like in Paris right now?"}]


def test_real_openai_call_round_trip(real):
    c = openai.OpenAI(base_url=real.url + "/v1", api_key="x", max_retries=0)
    r = c.chat.completions.create(model=REAL.stem, messages=ASK, tools=WEATHER, temperature=0, max_tokens=64)
    ch = r.choices[0]
    assert ch.finish_reason == "tool_calls", ch
    call = ch.message.tool_calls[0]
    assert call.type == "function" and call.function.name == "get_weather" and call.id
    assert "paris" in json.loads(call.function.arguments)["city"].lower()
    assert "<tool_call>" not in (ch.message.content or "")

    # streamed: the call's name first, then its arguments (in pieces for <tool_call>
    # blocks) that add up to the same text; finish_reason tool_calls
    calls, finish = [], None
    for k in c.chat.completions.create(model=REAL.stem, messages=ASK, tools=WEATHER, temperature=0, max_tokens=64,
                                       stream=True):
        if k.choices:
            calls += k.choices[0].delta.tool_calls or []
            finish = k.choices[0].finish_reason or finish
    assert finish == "tool_calls" and {d.index for d in calls} == {0}
    assert calls[0].function.name == "get_weather" and all(d.function.name is None for d in calls[1:])
    assert "".join(d.function.arguments or "" for d in calls) == call.function.arguments

    # the result goes back as a tool message; the answer uses it
    system = {"role": "system", "content": "You are a helpful assistant. Use tools when needed; once you have a tool "
                                           "result, answer the user in one plain sentence."}
    result = json.dumps({"temperature_celsius": 17, "condition": "light rain"})
    msgs = [system] + ASK + [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                             {"role": "tool", "tool_call_id": call.id, "name": "get_weather", "content": result}]
    r = c.chat.completions.create(model=REAL.stem, messages=msgs, tools=WEATHER, temperature=0, max_tokens=48)
    assert r.choices[0].finish_reason == "stop"
    assert "17" in r.choices[0].message.content


def test_real_ollama_call(real):
    r = ollama.Client(host=real.url).chat(model=REAL.stem, messages=ASK, tools=WEATHER, options={"temperature": 0,
                                                                                          "num_predict": 64})
    calls = r.message.tool_calls
    assert calls and calls[0].function.name == "get_weather"
    assert "paris" in calls[0].function.arguments["city"].lower()
