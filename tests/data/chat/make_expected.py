#!/usr/bin/env python3
"""Renders the reference chat transcripts in this folder with the models' REAL Jinja
templates (Python jinja2, as Hugging Face's apply_chat_template does).

    python3 make_expected.py SHARED_TESTDATA_DIR [GPT_OSS_TEMPLATE.jinja]

Templates:
  qwen3   tokenizer.chat_template of SHARED/tokenizer/qwen3.gguf
  llama3  tokenizer.chat_template of SHARED/tokenizer/llama3.gguf (bos_token from its vocab)
  qwen2.5 templates/qwen2.5.jinja: tokenizer.chat_template of the real
          qwen2.5-coder-0.5b-instruct GGUF (see docs/models.md)
  harmony gpt-oss's chat_template.jinja (SHARED/tokenizer/gptoss.gguf carries none), given
          on the command line (without it, harmony/ is left as it is). Fixed variables: strftime_now() returns DATE_SENTINEL (the
          test puts today's date in its place), reasoning_effort and model_identity are left
          undefined (the template's defaults: "medium" and its ChatGPT identity).
  gemma3  templates/gemma3.jinja: the chat_template of google/gemma-3-4b-it's
          tokenizer_config.json (the Gemma 3 270M GGUF carries none), bos_token "<bos>".
Writes conversations/<name>.msgs (the messages), <template>/<name>.<gen|nogen>.txt, and
templates/{qwen3,llama3}.jinja (the GGUFs' templates, so tests need no ../shared).
.msgs format: per message one line "<role> <n_bytes>", then exactly n_bytes of content,
then "\n".
"""
import os
import struct
import sys

import jinja2

DATE_SENTINEL = "2099-12-31"

CONVERSATIONS = {
    "user_only": [("user", "Hello!")],
    "system_user": [("system", "You are a terse assistant."), ("user", "What is 2+2?")],
    "multi_turn": [
        ("system", "Be helpful."),
        ("user", "Hi"),
        ("assistant", "Hello! How can I help?"),
        ("user", "Tell me a joke."),
    ],
    "ends_with_assistant": [("user", "Hi"), ("assistant", "Hello there.")],
    "no_system_multi": [
        ("user", "First question?"),
        ("assistant", "First answer."),
        ("user", "Second question?"),
        ("assistant", "Second answer."),
        ("user", "Third?"),
    ],
    "whitespace_unicode": [
        ("user", "  spaced out \n"),
        ("assistant", "\n answer with spaces  \n"),
        ("user", "tab\tand unicode: h\u00e9llo \u2014 \u65e5\u672c\u8a9e\u00a0"),
    ],
    "think_history": [
        ("user", "Q1"),
        ("assistant", "<think>\nreasoning here\n</think>\n\nA1"),
        ("user", "Q2"),
    ],
    "think_last": [("user", "Q1"), ("assistant", "<think>\nr1\n\n</think>\n\n\nA1\n")],
    "two_systems": [("system", "S1"), ("user", "U1"), ("system", "S2"), ("user", "U2")],
    "empty_user": [("user", "")],
}


def read_gguf_kv(path):
    """Minimal GGUF metadata reader (strings and scalars; arrays skipped over)."""
    data = open(path, "rb").read()
    off = 4
    fmt = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def take(f):
        nonlocal off
        v = struct.unpack_from("<" + f, data, off)[0]
        off += struct.calcsize("<" + f)
        return v

    def string():
        nonlocal off
        n = take("Q")
        s = data[off:off + n].decode("utf-8")
        off += n
        return s

    def value(t, keep=True):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            items = [value(et) for _ in range(n)]
            return items if keep else None
        return take(fmt[t])

    take("I")
    take("Q")
    n_kv = take("Q")
    kv = {}
    for _ in range(n_kv):
        k = string()
        t = take("I")
        kv[k] = value(t)
    return kv


def render(template_src, messages, add_generation_prompt, **extra):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True,
                             extensions=["jinja2.ext.loopcontrols"])

    def raise_exception(msg):
        raise jinja2.exceptions.TemplateError(msg)

    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: DATE_SENTINEL
    tmpl = env.from_string(template_src)
    msgs = [{"role": r, "content": c} for r, c in messages]
    return tmpl.render(messages=msgs, add_generation_prompt=add_generation_prompt, **extra)


def main():
    shared = sys.argv[1]
    gptoss_template = sys.argv[2] if len(sys.argv) > 2 else None
    here = os.path.dirname(os.path.abspath(__file__))
    qwen3 = read_gguf_kv(os.path.join(shared, "tokenizer/qwen3.gguf"))
    llama3 = read_gguf_kv(os.path.join(shared, "tokenizer/llama3.gguf"))
    templates = {
        "qwen3": (qwen3["tokenizer.chat_template"], {}),
        "llama3": (llama3["tokenizer.chat_template"],
                   {"bos_token": llama3["tokenizer.ggml.tokens"][llama3["tokenizer.ggml.bos_token_id"]]}),
        # Qwen2.5-Coder-0.5B-Instruct's GGUF template (docs/models.md), kept in templates/
        "qwen2.5": (open(os.path.join(here, "templates/qwen2.5.jinja"), encoding="utf-8").read(), {}),
        "gemma3": (open(os.path.join(here, "templates/gemma3.jinja"), encoding="utf-8").read(), {"bos_token": "<bos>"}),
    }
    if gptoss_template:
        templates["harmony"] = (open(gptoss_template, encoding="utf-8").read(), {})
    os.makedirs(os.path.join(here, "templates"), exist_ok=True)
    for tname in ("qwen3", "llama3"):
        with open(os.path.join(here, "templates", tname + ".jinja"), "wb") as f:
            f.write(templates[tname][0].encode("utf-8"))
    os.makedirs(os.path.join(here, "conversations"), exist_ok=True)
    for name, msgs in CONVERSATIONS.items():
        with open(os.path.join(here, "conversations", name + ".msgs"), "wb") as f:
            for role, content in msgs:
                b = content.encode("utf-8")
                f.write(f"{role} {len(b)}\n".encode() + b + b"\n")
    for tname, (src, extra) in templates.items():
        os.makedirs(os.path.join(here, tname), exist_ok=True)
        for name, msgs in CONVERSATIONS.items():
            for gen in (True, False):
                out = render(src, msgs, gen, **extra)
                path = os.path.join(here, tname, f"{name}.{'gen' if gen else 'nogen'}.txt")
                with open(path, "wb") as f:
                    f.write(out.encode("utf-8"))


if __name__ == "__main__":
    main()
