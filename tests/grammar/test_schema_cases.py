"""The JSON-schema converter against a corpus of structured-output and tool schemas
(tests/grammar/schema_cases/*.json: {"schema", "valid", "invalid", optional "error"}).
Outside references decide: the jsonschema validator (Draft 2020-12, with the format
checker) for every text sampled under the converted grammar, and for the hand-written
instances themselves; the grammar must accept each valid instance written the way a
model writes JSON (properties in schema order, compact or with spaces) and reject each
invalid one. A case with "error" must fail to convert with that text in the message.

Environment: as test_grammar_output.py (INFER_TOOLS, INFER_SHARED).
"""
import json
import os
import subprocess
import tempfile

import jsonschema
import pytest

from test_grammar_output import QWEN_VOCAB, check_schema_text, format_checker, tool

CASES = os.path.join(os.path.dirname(__file__), "schema_cases")


def case_names():
    return sorted(f[:-5] for f in os.listdir(CASES) if f.endswith(".json"))


def load(name):
    with open(os.path.join(CASES, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def schema_dir():
    with tempfile.TemporaryDirectory() as d:
        yield d


def schema_path(schema_dir, name):
    path = os.path.join(schema_dir, name + ".schema.json")
    if not os.path.exists(path):
        with open(path, "w", encoding="utf-8") as f:
            json.dump(load(name)["schema"], f, ensure_ascii=False)
    return path


def run(args, stdin=None):
    p = subprocess.run(args, capture_output=True, timeout=120, input=stdin)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def validator(schema):
    return jsonschema.Draft202012Validator(schema, format_checker=format_checker())


@pytest.mark.parametrize("name", case_names())
def test_instances_agree_with_jsonschema(name):
    """The corpus's own labels, checked by the validator (so the grammar checks below
    rest on an outside verdict)."""
    c = load(name)
    v = validator(c["schema"])
    for inst in c["valid"]:
        assert v.is_valid(inst), inst
    for inst in c["invalid"]:
        assert not v.is_valid(inst), inst


def verdict(schema_dir, name, text):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8", dir=schema_dir) as f:
        f.write(text)
    rc, out, err = run([tool("infer-grammar"), "--json-schema", schema_path(schema_dir, name), "--check-file", f.name])
    os.unlink(f.name)
    assert rc == 0, err
    return out.strip()


def spellings(inst):
    return [json.dumps(inst, ensure_ascii=False, separators=(",", ":")), json.dumps(inst, ensure_ascii=False)]


@pytest.mark.parametrize("name", case_names())
def test_conversion_and_instances(name, schema_dir):
    c = load(name)
    rc, out, err = run([tool("infer-grammar"), "--json-schema", schema_path(schema_dir, name)])
    if "error" in c:
        assert rc == 1 and c["error"] in err, err
        return
    assert rc == 0, err
    for inst in c["valid"]:
        for text in spellings(inst):
            assert verdict(schema_dir, name, text) == "sentence", text
    for inst in c["invalid"]:
        for text in spellings(inst):
            assert verdict(schema_dir, name, text) != "sentence", text


@pytest.mark.parametrize("name", case_names())
def test_sampled_texts_are_valid(name, schema_dir):
    """Random walks over Qwen's vocabulary under the grammar: every finished text is
    valid under the schema (one seed per case, different per case, to keep CI short;
    INFER_SCHEMA_SEEDS=N runs N seeds for a deeper sweep)."""
    if not os.path.exists(QWEN_VOCAB):
        pytest.skip("qwen3 vocabulary missing")
    if "error" in load(name):
        pytest.skip("converter refuses this schema")
    path = schema_path(schema_dir, name)
    base = sum(map(ord, name))
    for seed in range(base, base + int(os.environ.get("INFER_SCHEMA_SEEDS", "1"))):
        rc, out, err = run([tool("infer-grammar"), "--json-schema", path, "-m", QWEN_VOCAB, "--random", "300",
                            "--seed", str(seed), "--end-prob", "0.3"])
        assert rc == 0, err
        check_schema_text(path, out, "[cut after" in err)
