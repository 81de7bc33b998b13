"""Fixtures for the libinfer Python tests.

Run from the repository root with the library to test named by LIBINFER_LIBRARY (the
ctest registration in tests/python.cmake does this against the build tree):
    LIBINFER_LIBRARY=build/libinfer.so .venv/bin/python -m pytest python/tests
INFER_CLI names the infer-cli binary of the same build (the greedy comparison).
"""
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "python"))   # the package under test, not an installed one

DATA = os.path.join(REPO, "tests", "data")
MODELS = os.path.join(DATA, "models")


def data_path(*parts):
    p = os.path.join(DATA, *parts)
    if not os.path.exists(p):
        pytest.fail(f"missing fixture {p}")   # fixtures are in the repository: absence is a failure
    return p


@pytest.fixture(scope="session")
def stories_path():
    return data_path("models", "stories260K.gguf")


@pytest.fixture(scope="session")
def stories(stories_path):
    from libinfer import Llama
    llm = Llama(stories_path, n_ctx=512, n_threads=2, verbose=False, seed=1234)
    yield llm
    llm.close()
