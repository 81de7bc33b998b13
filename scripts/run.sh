#!/usr/bin/env bash
# The main job: set up, build, and generate text with the bundled default model.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
./build/infer-cli -m tests/data/models/stories260K.gguf -p "Once upon a time" -n 64 "$@"
