#!/usr/bin/env bash
# The main job, as far as the engine goes today: inspect both default models, then answer a
# question with each. Later work extends it to the full persona-vector run (generate, judge,
# extract, steer, report).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(swift build -c release --show-bin-path)/persona"
for model in smollm2-135m qwen2.5-0.5b; do
  echo "=== persona inspect $model"
  "$BIN" inspect "$model"
  echo
  echo "=== persona generate $model \"Give me one tip for staying calm before an exam.\""
  "$BIN" generate "$model" "Give me one tip for staying calm before an exam." --max-tokens 80
  echo
done
