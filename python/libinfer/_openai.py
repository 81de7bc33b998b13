"""The OpenAI / llama-cpp-python surface around Llama: stop strings, request options
(response_format, grammar, unsupported arguments), message normalization and the
assembly of a chat.completion from its chunks."""
from . import _lib
from .sampling import json_schema_to_grammar


class StopText:
    """Holds back generated text that could still be the start of a stop string."""

    def __init__(self, stops):
        self.stops = [s for s in stops if s]
        self.text = ""
        self.shown = 0
        self.stopped = False

    def push(self, piece):
        """Appends text; returns the part that is now safe to show."""
        if self.stopped:
            return ""
        self.text += piece
        cut = min((i for i in (self.text.find(s, max(0, self.shown - len(s))) for s in self.stops) if i >= 0),
                  default=-1)
        if cut >= 0:
            self.stopped = True
            self.text = self.text[:cut]
            out, self.shown = self.text[self.shown:], len(self.text)
            return out
        hold = 0
        for s in self.stops:
            for k in range(min(len(s) - 1, len(self.text)), 0, -1):
                if self.text.endswith(s[:k]):
                    hold = max(hold, k)
                    break
        safe = len(self.text) - hold
        out = self.text[self.shown:safe] if safe > self.shown else ""
        self.shown = max(self.shown, safe)
        return out

    def flush(self):
        out, self.shown = self.text[self.shown:], len(self.text)
        return out


class LlamaGrammar:
    """LlamaGrammar stand-in: LlamaGrammar.from_string(gbnf) / from_json_schema(text)."""

    def __init__(self, text):
        self.text = text

    @classmethod
    def from_string(cls, grammar, verbose=True):
        return cls(grammar)

    @classmethod
    def from_json_schema(cls, json_schema, verbose=True):
        return cls(json_schema_to_grammar(json_schema))



def refuse(unsupported):
    if unsupported:
        raise TypeError("libinfer.Llama does not support: " + ", ".join(sorted(unsupported)))


def constraints(typical_p, response_format, grammar):
    """(JSON schema, GBNF text) constraining the output; refuses what is not supported."""
    if typical_p != 1.0:
        raise NotImplementedError("typical_p: libinfer has no locally-typical sampling stage")
    json_schema = response_schema(response_format)
    if isinstance(grammar, LlamaGrammar):
        grammar = grammar.text
    if grammar is not None and json_schema is not None:
        raise ValueError("give either grammar or response_format, not both")
    return json_schema, grammar


def response_schema(response_format):
    """None for free text, else the JSON schema the reply must follow ({} for any object)."""
    if not response_format or response_format.get("type") == "text":
        return None
    t = response_format.get("type")
    if t == "json_object":
        schema = response_format.get("schema") or {"type": "object"}
    elif t == "json_schema":
        js = response_format.get("json_schema") or {}
        schema = js.get("schema", js) if isinstance(js, dict) else js
    else:
        raise ValueError(f"response_format type {t!r}: expected 'text', 'json_object' or 'json_schema'")
    if not _lib.has("infer_sampler_add_json_schema"):
        raise NotImplementedError("response_format (JSON output) needs a libinfer with the grammar API "
                                  f"(infer_sampler_add_json_schema); {_lib.path} lacks it")
    return schema


def normalize_message(m):
    """OpenAI message -> the fields the library reads; content parts joined as text."""
    out = dict(m)
    c = m.get("content")
    if isinstance(c, list):
        texts = []
        for p in c:
            if p.get("type") != "text":
                raise NotImplementedError(f"message content part of type {p.get('type')!r}: only text is supported")
            texts.append(p.get("text", ""))
        out["content"] = "".join(texts)
    return out


def collect_chat(chunks, logprobs):
    last = chunks[-1]
    content, reasoning, calls, lps = [], [], [], []
    for c in chunks:
        d = c["choices"][0]["delta"]
        if d.get("content"):
            content.append(d["content"])
        if d.get("reasoning_content"):
            reasoning.append(d["reasoning_content"])
        for tc in d.get("tool_calls") or []:
            calls.append({k: v for k, v in tc.items() if k != "index"})
        if c["choices"][0]["logprobs"]:
            lps += c["choices"][0]["logprobs"]["content"]
    msg = {"role": "assistant", "content": "".join(content) if content or not calls else None}
    if reasoning:
        msg["reasoning_content"] = "".join(reasoning)
    if calls:
        msg["tool_calls"] = calls
    return {"id": last["id"].replace("chatcmpl-", "chatcmpl-", 1), "object": "chat.completion",
            "created": last["created"], "model": last["model"],
            "choices": [{"index": 0, "message": msg, "logprobs": {"content": lps} if logprobs else None,
                         "finish_reason": last["choices"][0]["finish_reason"]}],
            "usage": last["usage"]}
