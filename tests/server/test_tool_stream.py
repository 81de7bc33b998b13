"""Streamed tool calls send their arguments in pieces (OpenAI's and llama.cpp's form),
through the official openai client: a call's first delta carries index, id, type and
name, later deltas only index and an arguments fragment; the fragments add up to the
arguments the same request answers whole (same seed). The bundled stories260K model gets
Qwen2.5's template (Hermes <tool_call> blocks, ../shared chat-templates corpus); what it
writes is forced by tool_choice (the tool's schema as a grammar) or by llama.cpp's
"grammar" extension, whose shape is the outside reference the arguments are checked
against. Ollama's stream keeps sending whole calls (tests/server/test_tools.py)."""
import json
import re

import httpx
import jsonschema
import openai
import pytest

from conftest import MODEL, ROOT
from gguf_edit import with_chat_template

TEMPLATE = ROOT.parent / "shared" / "testdata" / "chat-templates" / "templates" / "Qwen-Qwen2.5-7B-Instruct.jinja"
MSGS = [{"role": "user", "content": "Search the web, then the weather in Paris."}]
NOTE = {"type": "object", "properties": {"text": {"type": "string", "minLength": 40, "maxLength": 60},
                                         "tags": {"type": "array", "items": {"type": "integer"}, "maxItems": 4}},
        "required": ["text", "tags"]}
TOOLS = [{"type": "function", "function": {"name": "take_note", "description": "Write a note.", "parameters": NOTE}},
         {"type": "function", "function": {"name": "get_weather", "parameters": {
             "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]

# Text, then two calls; the second writes its arguments before its name.
TWO_CALLS = r'''root ::= "Checking both.\n<tool_call>\n{\"name\": \"take_note\", \"arguments\": {\"text\": \"" w "\", \"tags\": [" d ", " d "]}}\n</tool_call>\n<tool_call>\n{\"arguments\": {\"city\": \"" w "\"}, \"name\": \"get_weather\"}\n</tool_call>"
w ::= [a-z]{20,40}
d ::= [1-9]
'''
CALL0 = re.compile(r'\{"text":"[a-z]{20,40}","tags":\[[1-9],[1-9]\]\}')
CALL1 = re.compile(r'\{"city":"[a-z]{20,40}"\}')


@pytest.fixture(scope="module")
def qsrv(tmp_path_factory):
    from conftest import Server
    if not TEMPLATE.exists():
        pytest.skip(f"no chat-template corpus at {TEMPLATE}")
    d = tmp_path_factory.mktemp("toolstream")
    path = d / "stories-qwen-template.gguf"
    with_chat_template(MODEL, path, TEMPLATE.read_text(encoding="utf-8"))
    s = Server(["-m", str(path), "-np", "1", "-c", "2048"], d)
    s.model = path.stem
    yield s
    assert s.stop() == 0, s.output()[-4000:]


def client(s):
    return openai.OpenAI(base_url=s.url + "/v1", api_key="x", max_retries=0)


def collect(stream):
    """The streamed reply: content, finish_reason, and per call index its deltas."""
    text, finish, deltas = "", None, {}
    for ch in stream:
        if not ch.choices:
            continue
        d = ch.choices[0].delta
        text += d.content or ""
        for tc in d.tool_calls or []:
            deltas.setdefault(tc.index, []).append(tc)
        finish = ch.choices[0].finish_reason or finish
    return text, finish, deltas


def check_pieces(deltas):
    """Name, id and type come first and once; then only arguments. Returns the arguments."""
    first, rest = deltas[0], deltas[1:]
    assert first.id and first.type == "function" and first.function.name
    assert first.function.arguments is not None
    for d in rest:
        assert d.id is None and d.type is None and d.function.name is None
        assert d.function.arguments
    return "".join(d.function.arguments for d in deltas)


@pytest.mark.parametrize("seed", [1, 2])
def test_forced_call_arguments_stream_in_pieces(qsrv, seed):
    kw = dict(model=qsrv.model, messages=MSGS, tools=TOOLS, temperature=1.0, seed=seed, max_tokens=300,
              tool_choice={"type": "function", "function": {"name": "take_note"}})
    whole = client(qsrv).chat.completions.create(**kw).choices[0]
    assert whole.finish_reason == "tool_calls"
    want = whole.message.tool_calls[0].function.arguments
    jsonschema.validate(json.loads(want), NOTE)

    text, finish, deltas = collect(client(qsrv).chat.completions.create(stream=True, **kw))
    assert finish == "tool_calls" and list(deltas) == [0] and text == ""
    assert deltas[0][0].function.name == "take_note"
    assert len([d for d in deltas[0] if d.function.arguments]) > 5   # "text" alone is 40+ characters
    assert check_pieces(deltas[0]) == want


def test_two_calls_after_text(qsrv):
    kw = dict(model=qsrv.model, messages=MSGS, tools=TOOLS, temperature=1.0, seed=3, max_tokens=300,
              extra_body={"grammar": TWO_CALLS})
    whole = client(qsrv).chat.completions.create(**kw).choices[0]
    assert whole.finish_reason == "tool_calls" and whole.message.content == "Checking both."
    calls = whole.message.tool_calls
    assert [c.function.name for c in calls] == ["take_note", "get_weather"]
    assert CALL0.fullmatch(calls[0].function.arguments), calls[0].function.arguments
    assert CALL1.fullmatch(calls[1].function.arguments), calls[1].function.arguments

    text, finish, deltas = collect(client(qsrv).chat.completions.create(stream=True, **kw))
    assert finish == "tool_calls" and text == "Checking both."
    assert sorted(deltas) == [0, 1]
    assert deltas[0][0].id != deltas[1][0].id
    assert [deltas[i][0].function.name for i in (0, 1)] == ["take_note", "get_weather"]
    assert len(deltas[0]) > 5
    for i in (0, 1):
        assert check_pieces(deltas[i]) == calls[i].function.arguments
    # the second call's arguments came before its name: they go out with it, whole
    assert deltas[1][0].function.arguments == calls[1].function.arguments


# A plain call, then a block holding a list of two calls: the list is sent whole.
CALL_THEN_LIST = r'''root ::= "<tool_call>\n{\"name\": \"take_note\", \"arguments\": {\"text\": \"" w "\", \"tags\": []}}\n</tool_call>\n<tool_call>\n[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"" w "\"}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"" w "\"}}]\n</tool_call>"
w ::= [a-z]{20,30}
'''


def test_list_block_sent_whole_after_pieces(qsrv):
    kw = dict(model=qsrv.model, messages=MSGS, tools=TOOLS, temperature=1.0, seed=4, max_tokens=400,
              extra_body={"grammar": CALL_THEN_LIST})
    whole = client(qsrv).chat.completions.create(**kw).choices[0]
    calls = whole.message.tool_calls
    assert whole.finish_reason == "tool_calls" and [c.function.name for c in calls] == ["take_note"] + ["get_weather"] * 2
    text, finish, deltas = collect(client(qsrv).chat.completions.create(stream=True, **kw))
    assert finish == "tool_calls" and text == "" and sorted(deltas) == [0, 1, 2]
    assert len(deltas[0]) > 5 and [len(deltas[1]), len(deltas[2])] == [1, 1]
    assert len({deltas[i][0].id for i in range(3)}) == 3
    for i in range(3):
        assert check_pieces(deltas[i]) == calls[i].function.arguments
        assert json.loads(calls[i].function.arguments)


def test_call_cut_short_says_length(qsrv):
    """max_tokens ends the reply inside the first call: the pieces sent are a start of
    its arguments and the stream ends with "length"."""
    kw = dict(model=qsrv.model, messages=MSGS, tools=TOOLS, temperature=1.0, seed=3, max_tokens=70,
              extra_body={"grammar": TWO_CALLS})
    text, finish, deltas = collect(client(qsrv).chat.completions.create(stream=True, **kw))
    assert finish == "length"
    assert list(deltas) == [0]
    args = check_pieces(deltas[0])
    assert args and re.fullmatch(r'\{("(t(e(x(t("(:("[a-z]*)?)?)?)?)?)?)?)?', args), args


def test_bad_grammar_refused(qsrv):
    r = httpx.post(qsrv.url + "/v1/chat/completions", json={"messages": MSGS, "grammar": "root ::= undefined_rule"},
                   timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "grammar"
    r = httpx.post(qsrv.url + "/v1/chat/completions",
                   json={"messages": MSGS, "grammar": 'root ::= "x"', "response_format": {"type": "json_object"}},
                   timeout=30)
    assert r.status_code == 400 and r.json()["error"]["param"] == "grammar"


def test_client_leaves_mid_call(qsrv):
    """A client that hangs up while a call streams: the server frees what the stream held
    (the module's server must still exit 0, which under ASan means no leak) and serves on."""
    body = {"model": qsrv.model, "messages": MSGS, "tools": TOOLS, "stream": True, "temperature": 1.0, "seed": 3,
            "max_tokens": 300, "grammar": TWO_CALLS}
    with httpx.stream("POST", qsrv.url + "/v1/chat/completions", json=body, timeout=30) as r:
        for line in r.iter_lines():
            if '"tool_calls"' in line:
                break
    r = client(qsrv).chat.completions.create(model=qsrv.model, messages=MSGS, max_tokens=4)
    assert r.choices[0].finish_reason in ("stop", "length")


def test_invalid_call_json(qsrv):
    """A block whose JSON breaks after its name went out: the whole answer has no call
    and gives the block as text; the stream cannot take back what it sent (the name and
    the arguments up to the error), and sends that text at the end as well."""
    bad = r'''root ::= "<tool_call>\n{\"name\": \"take_note\", \"arguments\": {\"text\": \"" [a-z]{20,30} "\" \"x\"}}\n</tool_call>"'''
    kw = dict(model=qsrv.model, messages=MSGS, tools=TOOLS, temperature=1.0, seed=5, max_tokens=300,
              extra_body={"grammar": bad})
    whole = client(qsrv).chat.completions.create(**kw).choices[0]
    assert not whole.message.tool_calls and whole.message.content.startswith("<tool_call>")
    text, finish, deltas = collect(client(qsrv).chat.completions.create(stream=True, **kw))
    assert text == whole.message.content and list(deltas) == [0]
    args = check_pieces(deltas[0])
    assert re.fullmatch(r'\{"text":"[a-z]{20,30}"', args), args
