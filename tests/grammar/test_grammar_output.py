"""Text sampled under a grammar is checked by outside references, never by the sampler:
an independent GBNF recognizer (gbnf_ref.py), Python's json module and the jsonschema
validator (with its format checker). Also: malformed grammars and schemas give errors
naming line and column (or keyword and path), stop strings are never printed, and
--logprobs agrees with a log-softmax computed here from the logits infer-cli dumps.

Environment (set by tests/grammar.cmake): INFER_TOOLS (build dir), INFER_MODELS
(tests/data/models), INFER_GRAMMARS (tests/data/grammars), INFER_SHARED
(../shared/testdata), INFER_REAL_MODELS (~/.cache/libinfer/models), INFER_SKIP_REAL_MODELS
(1 under the sanitizers: the real-model cases are left to the Release run).
"""
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile

import jsonschema
import pytest

sys.path.insert(0, os.path.dirname(__file__))
from gbnf_ref import Recognizer  # noqa: E402

TOOLS = os.environ.get("INFER_TOOLS", "build")
MODELS = os.environ.get("INFER_MODELS", "tests/data/models")
GRAMMARS = os.environ.get("INFER_GRAMMARS", "tests/data/grammars")
SHARED = os.environ.get("INFER_SHARED", "../shared/testdata")
REAL = os.environ.get("INFER_REAL_MODELS", os.path.expanduser("~/.cache/libinfer/models"))
SCHEMAS = os.path.join(os.path.dirname(__file__), "schemas")
FIXTURE_GRAMMARS = ["json", "json_arr", "arithmetic", "list", "c", "chess"]
STORIES = os.path.join(MODELS, "stories260K.gguf")
QWEN_VOCAB = os.path.join(SHARED, "tokenizer", "qwen3.gguf")


def tool(name):
    return os.path.join(TOOLS, name)


def run(args, timeout=120):
    p = subprocess.run(args, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def grammar_text(name):
    with open(os.path.join(GRAMMARS, name + ".gbnf"), encoding="utf-8") as f:
        return f.read()


def n_generated(stderr):
    m = re.search(r"generation: (\d+) tokens", stderr)
    return int(m.group(1)) if m else 0


def cli_generate(model, prompt, n, seed, grammar_args, extra=()):
    rc, out, err = run([tool("infer-cli"), "-m", model, "-p", prompt, "-n", str(n), "--seed", str(seed),
                        "-t", "2", "--backend", "cpu", *grammar_args, *extra])
    assert rc == 0, err
    assert out.startswith(prompt) and out.endswith("\n"), out
    text = out[len(prompt):-1]
    cut = n_generated(err) >= n  # ran to -n: may stop inside a sentence (or a char)
    if cut:
        text = text.rstrip("\ufffd")
    return text, cut


def check_grammar_text(rec, text, cut, what):
    verdict = rec.match(text)
    if cut:
        assert verdict in ("sentence", "prefix"), f"{what}: not a prefix of the grammar: {text!r}"
    else:
        assert verdict == "sentence", f"{what}: ended before a whole sentence ({verdict}): {text!r}"


# ---------------------------------------------------------------- GBNF fixtures


@pytest.mark.parametrize("name", FIXTURE_GRAMMARS)
def test_fixture_grammar_parses(name):
    rc, out, err = run([tool("infer-grammar"), "--grammar-file", os.path.join(GRAMMARS, name + ".gbnf")])
    assert rc == 0, err
    Recognizer(grammar_text(name))  # the reference parses it too


@pytest.mark.parametrize("name", FIXTURE_GRAMMARS)
@pytest.mark.parametrize("seed", [1, 2])
def test_stories260k_under_grammar(name, seed):
    if not os.path.exists(STORIES):
        pytest.skip("stories260K missing")
    text, cut = cli_generate(STORIES, "Once", 160, seed, ["--grammar-file", os.path.join(GRAMMARS, name + ".gbnf")])
    check_grammar_text(Recognizer(grammar_text(name)), text, cut, f"{name} seed {seed}")


@pytest.mark.parametrize("name", FIXTURE_GRAMMARS)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_walk_on_qwen_vocab(name, seed):
    """Random logits over Qwen's 151k-token vocabulary: tokens spanning several grammar
    elements, whitespace runs, and byte tokens that split UTF-8 characters."""
    if not os.path.exists(QWEN_VOCAB):
        pytest.skip("qwen3 vocabulary missing")
    n = 120
    rc, out, err = run([tool("infer-grammar"), "--grammar-file", os.path.join(GRAMMARS, name + ".gbnf"),
                        "-m", QWEN_VOCAB, "--random", str(n), "--seed", str(seed), "--end-prob", "0.1"])
    assert rc == 0, err
    cut = "[cut after" in err
    assert cut or "[complete after" in err, err
    text = out if not cut else out.encode("utf-8", "surrogateescape").decode("utf-8", "ignore")
    check_grammar_text(Recognizer(grammar_text(name)), text, cut, f"{name} random walk {seed}")


def real_models():
    if os.environ.get("INFER_SKIP_REAL_MODELS") == "1" or not os.path.isdir(REAL):
        return []
    return sorted(os.path.join(REAL, f) for f in os.listdir(REAL)
                  if f.startswith("qwen2.5-coder") and f.endswith(".gguf"))


@pytest.mark.parametrize("name", FIXTURE_GRAMMARS)
def test_real_qwen_under_grammar(name):
    models = real_models()
    if not models:
        pytest.skip("no real Qwen2.5-Coder in the model cache (scripts/fetch-models.sh)")
    prompts = {
        "json": "a JSON object about a cat", "json_arr": "a JSON array of three fruits",
        "arithmetic": "three arithmetic equations", "list": "a list of three colors",
        "c": "a C function that adds two ints", "chess": "the first moves of a chess game",
    }
    prompt = f"<|im_start|>user\nWrite {prompts[name]}.<|im_end|>\n<|im_start|>assistant\n"
    text, cut = cli_generate(models[0], prompt, 16, 1, ["--grammar-file", os.path.join(GRAMMARS, name + ".gbnf")],
                             ["-c", "256"])
    check_grammar_text(Recognizer(grammar_text(name)), text, cut, f"{name} on {os.path.basename(models[0])}")


# ---------------------------------------------------------------- JSON schema


def schema_files():
    return sorted(f for f in os.listdir(SCHEMAS) if f.endswith(".json"))


def schema_gbnf(path):
    rc, out, err = run([tool("infer-grammar"), "--json-schema", path])
    assert rc == 0, err
    return out


def format_checker():
    """2020-12's checker (date, uuid, ...); time and date-time need a package the venv
    lacks, so they are checked here with Python's own ISO 8601 parser."""
    from datetime import datetime, time
    fc = jsonschema.FormatChecker(formats=[])
    for name, fn in jsonschema.Draft202012Validator.FORMAT_CHECKER.checkers.items():
        fc.checkers[name] = fn
    fc.checks("time", raises=ValueError)(lambda v: not isinstance(v, str) or bool(time.fromisoformat(v)))
    fc.checks("date-time", raises=ValueError)(lambda v: not isinstance(v, str) or bool(datetime.fromisoformat(v)))
    return fc


def check_schema_text(path, text, cut):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    if cut:  # unfinished: at least a prefix of the converted grammar
        assert Recognizer(schema_gbnf(path)).match(text) in ("sentence", "prefix"), text
        return
    value = json.loads(text)
    jsonschema.validate(value, schema, format_checker=format_checker())


@pytest.mark.parametrize("schema", schema_files())
@pytest.mark.parametrize("seed", [1, 2])
def test_schema_stories260k(schema, seed):
    if not os.path.exists(STORIES):
        pytest.skip("stories260K missing")
    path = os.path.join(SCHEMAS, schema)
    text, cut = cli_generate(STORIES, "Once", 800, seed, ["--json-schema", path])
    check_schema_text(path, text, cut)


@pytest.mark.parametrize("schema", schema_files())
@pytest.mark.parametrize("seed", [1, 2])
def test_schema_random_walk_on_qwen_vocab(schema, seed):
    if not os.path.exists(QWEN_VOCAB):
        pytest.skip("qwen3 vocabulary missing")
    path = os.path.join(SCHEMAS, schema)
    rc, out, err = run([tool("infer-grammar"), "--json-schema", path, "-m", QWEN_VOCAB, "--random", "250",
                        "--seed", str(seed), "--end-prob", "0.3"])
    assert rc == 0, err
    check_schema_text(path, out, "[cut after" in err)


def test_schema_real_qwen():
    models = real_models()
    if not models:
        pytest.skip("no real Qwen2.5-Coder in the model cache (scripts/fetch-models.sh)")
    path = os.path.join(SCHEMAS, "person.json")
    prompt = ("<|im_start|>user\nDescribe a person as JSON with name, age, email, tags.<|im_end|>\n"
              "<|im_start|>assistant\n")
    text, cut = cli_generate(models[0], prompt, 48, 1, ["--json-schema", path], ["-c", "256"])
    check_schema_text(path, text, cut)


def test_json_object_flag():
    if not os.path.exists(STORIES):
        pytest.skip("stories260K missing")
    rc, gbnf, err = run([tool("infer-grammar"), "-j"])
    assert rc == 0, err
    for seed in (1, 2, 3):
        text, cut = cli_generate(STORIES, "Once", 300, seed, ["-j"])
        if cut:
            assert Recognizer(gbnf).match(text) in ("sentence", "prefix"), text
        else:
            assert isinstance(json.loads(text), dict), text


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("gbnf,where", [
    ('root ::= "a"\nfoo ::= [a-\n', "line 2, column 9"),           # unterminated class
    ('root ::= "a" |\n  b\n', "line 2, column 3"),                  # undefined rule b
    ('root ::= "abc\n', "line 1, column 10"),                       # unterminated literal
    ('root ::= x\nx ::= x "a"\n', "line 2, column 1"),             # left recursion
    ('root ::= "a"{3,1}\n', "line 1, column 13"),                   # max below min
    ('root ::= "\\q"\n', "line 1, column 11"),                      # unknown escape
    ('root ::= ("a"\n', "line 2, column 1"),                        # missing )
    ('top ::= "a"\n', "line 1, column 1"),                          # no root
])
def test_malformed_grammar_names_line_and_column(gbnf, where):
    rc, out, err = run([tool("infer-grammar"), "--grammar", gbnf])
    assert rc == 1
    assert where in err, err


@pytest.mark.parametrize("schema,needle", [
    ('{"type": "object",\n "properties": {"a": {"type": "string", "minLength": }}}', "line 2, column"),
    ('{"type": "object", "properties": {"a": {"type": "string", "contains": {}}}}', "'contains' at /properties/a"),
    ('{"type": "number", "minimum": 0.2, "maximum": 0.8}', "number bounds leave no value"),
    ('{"type": "string", "format": "duration"}', "unsupported string format 'duration'"),
    ('{"type": "string", "pattern": "^(?=a)b$"}', "lookaround"),
    ('{"$ref": "#/$defs/missing"}', "points nowhere"),
    ('{"type": "integer", "minimum": 5, "maximum": 4}', "no integer lies between"),
])
def test_bad_schema_errors(schema, needle):
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(schema)
    try:
        rc, out, err = run([tool("infer-grammar"), "--json-schema", f.name])
    finally:
        os.unlink(f.name)
    assert rc == 1
    assert needle in err, err


# ---------------------------------------------------------------- stop strings and logprobs


def test_stop_strings_never_printed():
    if not os.path.exists(STORIES):
        pytest.skip("stories260K missing")
    full, _ = cli_generate(STORIES, "Once", 200, 5, [], ["--temp", "0"])
    # Stop strings chosen from the text itself, so each one really occurs (and spans tokens).
    for stop in (full[20:26], full[60:64], "\n"):
        if not stop or stop not in full:
            continue
        text, _ = cli_generate(STORIES, "Once", 200, 5, ["--stop", stop, "--stop", "zzzzqqq"], ["--temp", "0"])
        assert text == full[:full.index(stop)], (stop, text)


def log_softmax(row):
    m = max(row)
    z = sum(math.exp(x - m) for x in row)
    return [x - m - math.log(z) for x in row]


def test_logprobs_match_log_softmax_of_the_logits():
    if not os.path.exists(STORIES):
        pytest.skip("stories260K missing")
    rc, out, err = run([tool("infer-cli"), "-m", STORIES, "-p", "Once upon", "-n", "1", "--temp", "0",
                        "--logprobs", "5", "-t", "1", "--backend", "cpu"])
    assert rc == 0, err
    line = next(l for l in err.splitlines() if l.startswith("[logprob]"))
    fields = re.findall(r'(\d+) "(?:[^"\\]|\\.)*" (-?[0-9.]+|-inf)', line)
    chosen, top = fields[0], fields[1:]
    assert len(top) == 5
    # The reference: the prompt's logits from --logits-out, log-softmax here in Python.
    rc, ids, err = run([tool("infer-tokenize"), "-m", STORIES, "-p", "Once upon"])
    assert rc == 0, err
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "ids.txt"), "w") as f:
            f.write(ids)
        rc, _, err = run([tool("infer-cli"), "-m", STORIES, "--tokens-file", os.path.join(d, "ids.txt"),
                          "--logits-out", os.path.join(d, "l.f32"), "-t", "1", "--backend", "cpu"])
        assert rc == 0, err
        raw = open(os.path.join(d, "l.f32"), "rb").read()
    n_tok = len(ids.split())
    n_vocab = len(raw) // 4 // n_tok
    row = struct.unpack_from(f"<{n_vocab}f", raw, 4 * n_vocab * (n_tok - 1))
    ref = log_softmax(row)
    best = sorted(range(n_vocab), key=lambda i: (-ref[i], i))[:5]
    assert [int(t) for t, _ in top] == best
    for t, lp in top + [chosen]:
        assert abs(float(lp) - ref[int(t)]) < 2e-4, (t, lp, ref[int(t)])
    assert int(chosen[0]) == best[0]  # greedy picked the most likely token
