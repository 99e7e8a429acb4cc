#!/usr/bin/env bash
# The main job: the whole persona-vector pipeline for evil, sycophantic and hallucinating on
# qwen2.5-0.5b, judged by the `local-judge` plugin with qwen2.5-1.5b, then the HTML report.
#
# Why a 1.5B judge: Qwen2.5-0.5B judging its own answers scores almost everything 45–60 whatever
# prompt produced it (judge AUC near chance, see BENCHMARKS.md), so its steering curves are flat
# and its filter keeps pairs at random. Every run prints the judge's AUC per trait and warns when it
# cannot separate the trait; the behavioural measure (P(trait answer) of the packs' two-choice
# items) needs no judge at all.
#
# Size (every knob below can be overridden from the environment):
#   DEMO_QUESTIONS extraction questions × 5 instruction pairs × 2 polarities per trait,
#   DEMO_EVAL_QUESTIONS evaluation questions at each of DEMO_COEFFS (at the middle layer, 12),
#   answers of at most DEMO_MAX_TOKENS (extraction) and DEMO_STEER_MAX_TOKENS (steered) tokens.
# Judging dominates: every answer gets a trait and a coherence score.
#
# The run lives in runs/demo (DEMO_RUN overrides it). Everything is committed to its store as it
# is made: interrupt it and `make demo` again resumes; a finished run is only re-reported.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(swift build -c release --show-bin-path)/persona"
RUN="${DEMO_RUN:-runs/demo}"
MODEL="${DEMO_MODEL:-qwen2.5-0.5b}"
JUDGE_CONFIG="${DEMO_JUDGE_CONFIG:-{\"model\": \"qwen2.5-1.5b\"\}}"
start=$(date +%s)

echo "=== persona inspect $MODEL"
"$BIN" inspect "$MODEL"
echo

echo "=== persona run --traits evil,sycophantic,hallucinating --model $MODEL --judge-config '$JUDGE_CONFIG' --out $RUN"
"$BIN" run --traits evil,sycophantic,hallucinating --model "$MODEL" --out "$RUN" \
  --judge local-judge --judge-config "$JUDGE_CONFIG" \
  --questions "${DEMO_QUESTIONS:-2}" --eval-questions "${DEMO_EVAL_QUESTIONS:-4}" --samples 1 \
  --max-tokens "${DEMO_MAX_TOKENS:-64}" --steer-max-tokens "${DEMO_STEER_MAX_TOKENS:-48}" \
  --coeffs "${DEMO_COEFFS:--8,-4,0,4,8,12}" --seed 1
echo

echo "=== persona report $RUN"
"$BIN" report "$RUN"
echo
echo "demo: finished in $(( $(date +%s) - start )) s; open $RUN/report/report.html in a browser"
