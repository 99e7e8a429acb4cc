#!/usr/bin/env bash
# The main job: the whole persona-vector pipeline for evil, sycophantic and hallucinating on the
# default model (qwen2.5-0.5b, judged by the `local-judge` plugin with the same model), sized to
# finish in under 15 minutes on the 2-core machine, then the HTML report.
#
# Size: 1 extraction question × 5 instruction pairs × 2 polarities per trait, 2 evaluation
# questions, coefficients -4, 0, 4, 8 at the middle layer. Judging dominates (≈ 4.5 s per score
# with the exact local judge; each answer gets a trait and a coherence score).
# The trait threshold is 45, not 50: Qwen2.5-0.5B judging itself gives almost every answer a trait
# score between 45 and 60, whichever prompt produced it, so at 50 hardly any pair survives. A
# stronger judge (e.g. --judge-config '{"model": "qwen2.5-1.5b"}' after `make models-large`, or
# the openai plugin) separates them better.
#
# The run lives in runs/demo (DEMO_RUN overrides it). Everything is committed to its store as it
# is made: interrupt it and `make demo` again resumes; a finished run is only re-reported.
# DEMO_QUESTIONS, DEMO_MAX_TOKENS, DEMO_COEFFS size it differently (a new DEMO_RUN is best then).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(swift build -c release --show-bin-path)/persona"
RUN="${DEMO_RUN:-runs/demo}"
MODEL="${DEMO_MODEL:-qwen2.5-0.5b}"
start=$(date +%s)

echo "=== persona inspect $MODEL"
"$BIN" inspect "$MODEL"
echo

echo "=== persona run --traits evil,sycophantic,hallucinating --model $MODEL --out $RUN"
"$BIN" run --traits evil,sycophantic,hallucinating --model "$MODEL" --out "$RUN" \
  --questions "${DEMO_QUESTIONS:-1}" --eval-questions "${DEMO_EVAL_QUESTIONS:-2}" --samples 1 \
  --max-tokens "${DEMO_MAX_TOKENS:-48}" --steer-max-tokens "${DEMO_STEER_MAX_TOKENS:-40}" \
  --coeffs "${DEMO_COEFFS:--4,0,4,8}" --trait-threshold "${DEMO_TRAIT_THRESHOLD:-45}" --seed 1
echo

echo "=== persona report $RUN"
"$BIN" report "$RUN"
echo
echo "demo: finished in $(( $(date +%s) - start )) s; open $RUN/report/report.html in a browser"
