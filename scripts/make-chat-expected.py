#!/usr/bin/env python3
"""Render chat templates with Python jinja2 the way Hugging Face's apply_chat_template does,
to make reference outputs for a chat-template corpus (tests/data/chat-templates layout).

Not run by the test suite (which has no jinja2): it is how the references were made.
Needs jinja2 3.1.6 in a throwaway venv:
    python3 -m venv /tmp/j2venv && /tmp/j2venv/bin/pip install jinja2==3.1.6
    /tmp/j2venv/bin/python scripts/make-chat-expected.py CORPUS_DIR [CONVERSATIONS_DIR]

CORPUS_DIR/templates/<name>.jinja (+ <name>.meta.json with bos_token/eos_token) are rendered
with every CONVERSATIONS_DIR/<conv>.json (default CORPUS_DIR/conversations, else the public set's
tests/data/chat-templates/conversations); each result goes
to CORPUS_DIR/expected/<name>/<conv>.txt, or .error ("<kind>: <message>") when jinja2 raised.
The environment is the one tests/data/chat-templates/README.md specifies."""
import copy
import datetime
import json
import pathlib
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
import jinja2.sandbox


class RaisedByTemplate(jinja2.exceptions.TemplateError):
    """raise_exception(msg): a TemplateError, told apart so its .error says raise_exception."""


def raise_exception(message):
    raise RaisedByTemplate(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers' override: json.dumps without jinja2's HTML escaping
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    # a fixed date, so references do not change with the day they were made
    return datetime.datetime(2026, 1, 15, 0, 0, 0).strftime(fmt)


class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %}: a call block whose body renders unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_generation_support")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_env():
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render(env, text, meta, conv):
    # a fresh copy each time: jinja2 lets a few filters change a list in place (indent's `s += "\n"`)
    conv = copy.deepcopy(conv)
    variables = {"messages": conv["messages"], "add_generation_prompt": conv["add_generation_prompt"],
                 "bos_token": meta.get("bos_token", ""), "eos_token": meta.get("eos_token", "")}
    if "tools" in conv:
        variables["tools"] = conv["tools"]
    variables.update(conv.get("extra", {}))
    try:
        return env.from_string(text).render(**variables), None
    except RaisedByTemplate as e:
        return None, f"raise_exception: {e.message}"
    except Exception as e:  # every other failure: its Python class and message
        return None, f"{type(e).__name__}: {e}"


def main():
    corpus = pathlib.Path(sys.argv[1])
    convdir = pathlib.Path(sys.argv[2]) if len(sys.argv) > 2 else corpus / "conversations"
    if not convdir.is_dir():
        convdir = pathlib.Path(__file__).resolve().parent.parent / "tests/data/chat-templates/conversations"
    env = make_env()
    convs = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(convdir.glob("*.json"))}
    for tpath in sorted((corpus / "templates").glob("*.jinja")):
        name = tpath.name[: -len(".jinja")]
        text = tpath.read_bytes().decode("utf-8")
        meta_path = tpath.with_name(name + ".meta.json")
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
        out = corpus / "expected" / name
        out.mkdir(parents=True, exist_ok=True)
        errors = 0
        for cname, conv in convs.items():
            text_out, err = render(env, text, meta, conv)
            for ext in (".txt", ".error"):
                (out / (cname + ext)).unlink(missing_ok=True)
            if err is None:
                (out / (cname + ".txt")).write_bytes(text_out.encode("utf-8"))
            else:
                errors += 1
                (out / (cname + ".error")).write_bytes(err.encode("utf-8"))
        print(f"{name}: {len(convs) - errors} rendered, {errors} raised")


if __name__ == "__main__":
    main()
