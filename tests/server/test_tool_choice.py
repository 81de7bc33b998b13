"""tool_choice "required" and a named function: the grammar sampler makes the reply a call
in the model family's own syntax (Qwen/Hermes <tool_call>, Llama 3 JSON, Mistral
[TOOL_CALLS], Harmony commentary), so every reply parses into tool_calls whose arguments
validate against the tool's JSON schema (checked with the jsonschema package, not by the
server's converter), streamed or not, through the official openai client. The bundled
stories260K model gets each family's real template (../shared chat-templates corpus); the
synthetic gpt-oss file (random weights, Harmony family) runs with tools offered and a
forced function, and its answers must have the shapes the openai and ollama clients read."""
import json

import httpx
import jsonschema
import ollama
import openai
import pytest

from conftest import MODEL, ROOT
from gguf_edit import with_chat_template

CORPUS = ROOT.parent / "shared" / "testdata" / "chat-templates" / "templates"
GPTOSS = ROOT.parent / "shared" / "testdata" / "models" / "synth-gptoss-F32.gguf"

WEATHER = {"type": "object", "properties": {
    "city": {"type": "string", "maxLength": 12},
    "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    "days": {"type": "integer", "minimum": 1, "maximum": 7}}, "required": ["city", "unit"]}
SEARCH = {"type": "object", "properties": {"query": {"type": "string", "maxLength": 16},
                                           "exact": {"type": "boolean"}}, "required": ["query"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city.", "parameters": WEATHER}},
         {"type": "function", "function": {"name": "search", "description": "Search the web.", "parameters": SEARCH}}]
SCHEMAS = {"get_weather": WEATHER, "search": SEARCH}
MSGS = [{"role": "user", "content": "What is the weather in Paris?"}]

FAMILIES = {"hermes": "Qwen-Qwen2.5-7B-Instruct", "llama3": "meta-llama-Llama-3.1-8B-Instruct",
            "mistral": "mistralai-Mistral-Nemo-Instruct-2407"}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_server(request, tmp_path_factory):
    from conftest import Server
    tpl = CORPUS / f"{FAMILIES[request.param]}.jinja"
    if not tpl.exists():
        pytest.skip(f"no chat-template corpus at {CORPUS}")
    d = tmp_path_factory.mktemp(request.param)
    path = d / f"stories-{request.param}.gguf"
    with_chat_template(MODEL, path, tpl.read_text(encoding="utf-8"))
    s = Server(["-m", str(path), "-np", "2", "-c", "8192"], d)   # Llama 3.1's tool prompt: 1.5k tokens
    s.model = path.stem
    yield s
    assert s.stop() == 0, s.output()[-4000:]


def check_call(call, names):
    assert call.type == "function" and call.id
    assert call.function.name in names
    jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


def test_required_always_a_valid_call(family_server):
    c = openai.OpenAI(base_url=family_server.url + "/v1", api_key="x", max_retries=0)
    for temp, seed in [(0, 1), (1.0, 1), (1.0, 2), (1.0, 3)]:
        r = c.chat.completions.create(model=family_server.model, messages=MSGS, tools=TOOLS, tool_choice="required",
                                      temperature=temp, seed=seed, max_tokens=160)
        ch = r.choices[0]
        assert ch.finish_reason == "tool_calls", ch
        assert len(ch.message.tool_calls) == 1
        check_call(ch.message.tool_calls[0], SCHEMAS)


def test_forced_function_streamed(family_server):
    c = openai.OpenAI(base_url=family_server.url + "/v1", api_key="x", max_retries=0)
    forced = {"type": "function", "function": {"name": "search"}}
    kw = dict(model=family_server.model, messages=MSGS, tools=TOOLS, tool_choice=forced, temperature=1.0, seed=7,
              max_tokens=160)
    whole = c.chat.completions.create(**kw).choices[0]
    assert whole.finish_reason == "tool_calls"
    check_call(whole.message.tool_calls[0], ["search"])
    calls, args, finish, text = {}, {}, None, ""
    for ch in c.chat.completions.create(stream=True, **kw):
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        text += d.content or ""
        for tc in d.tool_calls or []:   # Hermes calls come in pieces: the name first, then arguments
            calls.setdefault(tc.index, tc)
            args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
        finish = ch.choices[0].finish_reason or finish
    assert finish == "tool_calls" and list(calls) == [0]
    assert calls[0].function.name == "search"
    assert args[0] == whole.message.tool_calls[0].function.arguments
    assert text == (whole.message.content or "")


def test_none_renders_no_tools(family_server):
    plain = httpx.post(family_server.url + "/apply-template", json={"messages": MSGS}, timeout=30).json()["prompt"]
    none = httpx.post(family_server.url + "/apply-template", json={"messages": MSGS, "tools": TOOLS, "tool_choice": "none"},
                      timeout=30).json()["prompt"]
    assert none == plain


@pytest.fixture(scope="module")
def gptoss(tmp_path_factory):
    from conftest import Server
    if not GPTOSS.exists():
        pytest.skip(f"{GPTOSS} is absent")
    s = Server(["-m", str(GPTOSS), "-np", "1", "-c", "1024"], tmp_path_factory.mktemp("gptoss"))
    yield s
    assert s.stop() == 0, s.output()[-4000:]


def test_gptoss_tools_shapes(gptoss):
    """Random weights write no channels: the reply is shaped right, whatever it holds."""
    c = openai.OpenAI(base_url=gptoss.url + "/v1", api_key="x", max_retries=0)
    r = c.chat.completions.create(model="synth-gptoss-F32", messages=MSGS, tools=TOOLS, temperature=0, max_tokens=16)
    ch = r.choices[0]
    assert ch.message.role == "assistant" and ch.finish_reason in ("stop", "length", "tool_calls")
    assert r.usage.completion_tokens <= 16
    n = 0
    for chunk in c.chat.completions.create(model="synth-gptoss-F32", messages=MSGS, tools=TOOLS, temperature=0,
                                           max_tokens=16, stream=True):
        n += 1
    assert n >= 2
    o = ollama.Client(host=gptoss.url).chat(model="synth-gptoss-F32", messages=MSGS, tools=TOOLS,
                                            options={"temperature": 0, "num_predict": 16})
    assert o.done and o.message.role == "assistant"


def test_gptoss_forced_function(gptoss):
    """The server opens the commentary message to the function; the grammar writes the
    arguments; the Harmony parser reads the call back."""
    c = openai.OpenAI(base_url=gptoss.url + "/v1", api_key="x", max_retries=0)
    forced = {"type": "function", "function": {"name": "get_weather"}}
    for seed in (1, 2):
        r = c.chat.completions.create(model="synth-gptoss-F32", messages=MSGS, tools=TOOLS, tool_choice=forced,
                                      temperature=1.0, seed=seed, max_tokens=160)
        ch = r.choices[0]
        assert ch.finish_reason == "tool_calls", ch
        assert len(ch.message.tool_calls) == 1
        check_call(ch.message.tool_calls[0], ["get_weather"])
    r = httpx.post(gptoss.url + "/v1/chat/completions", json={"messages": MSGS, "tools": TOOLS, "tool_choice": "required"},
                   timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "tool_choice"
