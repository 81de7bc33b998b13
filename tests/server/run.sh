#!/bin/sh
# Runs the server tests with the venv's pytest: run.sh PYTHON INFER_SERVER INFER_CLI TESTDIR
py="$1"; export INFER_SERVER="$2" INFER_CLI="$3"; dir="$4"
if [ ! -x "$py" ] || ! "$py" -c 'import pytest, openai, ollama, httpx' 2>/dev/null; then
  echo "server tests skipped: no .venv with pytest, openai, ollama (run scripts/setup.sh)"
  exit 77
fi
"$py" -m pytest -q -p no:cacheprovider "$dir"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "server tests: pytest collected no tests"
  exit 77
fi
exit "$rc"
