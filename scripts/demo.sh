#!/usr/bin/env bash
# The main job: the whole persona-vector pipeline for evil, sycophantic and hallucinating on
# qwen2.5-0.5b (the subject), judged by the `local-judge` plugin on qwen2.5-1.5b, then the HTML report.
#
# The judge is the weak point, and the run says so (judge AUC per trait, with a warning under 0.75).
# Qwen2.5-0.5B judging its own answers cannot tell a plainly evil answer from a plainly kind one
# (52.7 vs 53.4); Qwen2.5-1.5B can, but with the reference rule it answers REFUSAL to most answers
# (P(REFUSAL) 0.6–0.8, kind ones included), so nothing gets a score. The demo's judge therefore
# ignores REFUSAL and scores with the numbers' own distribution ("refusal": "ignore",
# "minimum_number_mass": 0.05; BENCHMARKS.md has the measurements), and takes a two-digit number
# as complete ("end": "scale": the distribution after it, most of a score's work, is not computed;
# on this judge the scores move by under 0.01 point). The behavioural measure
# (P(trait answer) on the packs' two-choice items, no judge) shows what steering does either way.
#
# The pair filter keeps every coherent pair (trait threshold 0, coherence ≥ 50; the packs' own
# filters still apply). On this subject the trait prompts hardly change what it writes: its
# evil-prompted answers are as kind as its helpful-prompted ones (judge AUC ≈ 0.5 with a judge that
# does separate plain cases), so at the reference threshold (50) no pair is kept and no vector is
# made. The run prints the AUC and the filter diagnosis either way; DEMO_TRAIT_THRESHOLD=50 restores
# the reference filter.
#
# Steering is found, not guessed (issue 20): the run searches layers × coefficients (in units of
# each layer's mean residual norm) for two vector sources — `written` (teacher-forced contrast of
# the pack's written two-choice answers: no judge, no sampling) and `prompted` (the extracted
# vector) — by judge-free signals: P(trait answer) on two-choice items no vector was made from,
# and the KL per token from the unsteered model on neutral prompts (the coherence floor). It
# steers with the source and point that raise P(trait answer) most under the floor, and judges
# the answers there beside c = 0. The refusal direction (Directions/refusal.json) is ablated at
# every block while steering: this safety-tuned Coder model refuses persona requests.
#
# Size (every knob below can be overridden from the environment):
#   DEMO_QUESTIONS extraction questions × 5 instruction pairs × 2 polarities per trait,
#   DEMO_EVAL_QUESTIONS evaluation questions, answered unsteered and at the chosen point (and at
#   each of DEMO_COEFFS, norm units, with the prompted vector at the middle layer, 12),
#   the search over DEMO_SEARCH_LAYERS × DEMO_SEARCH_COEFFS for DEMO_SEARCH sources,
#   answers of at most DEMO_MAX_TOKENS (extraction) and DEMO_STEER_MAX_TOKENS (steered) tokens.
# Judging dominates: every answer gets a trait and a coherence score (about 4 s each on
# qwen2.5-1.5b on 2 cores with the fast arithmetic, the default; 11 s exact); the search needs no judge.
#
# The run lives in runs/demo (DEMO_RUN overrides it). Everything is committed to its store as it
# is made: interrupt it and `make demo` again resumes; a finished run is only re-reported.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(swift build --manifest-cache local -c release --show-bin-path)/persona"
RUN="${DEMO_RUN:-runs/demo}"
MODEL="${DEMO_MODEL:-qwen2.5-0.5b}"
JUDGE_CONFIG="${DEMO_JUDGE_CONFIG:-{\"model\": \"qwen2.5-1.5b\", \"refusal\": \"ignore\", \"minimum_number_mass\": 0.05, \"end\": \"scale\"\}}"
start=$(date +%s)

echo "=== persona inspect $MODEL"
"$BIN" inspect "$MODEL"
echo

echo "=== persona run --traits evil,sycophantic,hallucinating --model $MODEL --judge-config '$JUDGE_CONFIG' --out $RUN"
"$BIN" run --traits evil,sycophantic,hallucinating --model "$MODEL" --out "$RUN" \
  --judge local-judge --judge-config "$JUDGE_CONFIG" \
  --questions "${DEMO_QUESTIONS:-1}" --eval-questions "${DEMO_EVAL_QUESTIONS:-5}" --samples 1 \
  --max-tokens "${DEMO_MAX_TOKENS:-48}" --steer-max-tokens "${DEMO_STEER_MAX_TOKENS:-40}" \
  --coeff-unit norm --coeffs "${DEMO_COEFFS:-0}" \
  --search "${DEMO_SEARCH:-written,prompted}" --search-layers "${DEMO_SEARCH_LAYERS:-6,9,12}" \
  --search-coeffs "${DEMO_SEARCH_COEFFS:--0.2,0,0.1,0.2}" --ablate "${DEMO_ABLATE:-refusal}" \
  --trait-threshold "${DEMO_TRAIT_THRESHOLD:-0}" --seed 1
echo

echo "=== persona report $RUN"
"$BIN" report "$RUN"
echo
echo "demo: finished in $(( $(date +%s) - start )) s; open $RUN/report/report.html in a browser"
