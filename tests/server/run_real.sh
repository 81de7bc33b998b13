#!/bin/sh
# The server's real-model checks (test_tools.py -k real: a Qwen2.5-Coder tool call parsed,
# streamed, its result fed back): run.sh PYTHON INFER_SERVER INFER_CLI TESTDIR. Skipped
# (exit 77) unless INFER_REAL_MODELS=1 and the model is in $INFER_MODELS, as the other
# real-model runs (scripts/test-real-models.sh sets both).
py="$1"; export INFER_SERVER="$2" INFER_CLI="$3"; dir="$4"
model="${INFER_MODELS:-$HOME/.cache/libinfer/models}/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
if [ "$INFER_REAL_MODELS" != 1 ] || [ ! -f "$model" ]; then
  echo "server real-model tests skipped: needs INFER_REAL_MODELS=1 and $model"
  exit 77
fi
if [ ! -x "$py" ] || ! "$py" -c 'import pytest, openai, ollama, httpx' 2>/dev/null; then
  echo "server real-model tests skipped: no .venv with pytest, openai, ollama (run scripts/setup.sh)"
  exit 77
fi
exec "$py" -m pytest -q -p no:cacheprovider -k real "$dir/test_tools.py"
