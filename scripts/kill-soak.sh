#!/usr/bin/env bash
# kill -9 soak (issue 22): a small `persona run` (smollm2-135m, two traits, every stage) is killed
# with SIGKILL N times at random moments, each time resumed with the same command, then run to the
# end; its store, vector files and report are compared with those of an uninterrupted run with the
# same seed: every table row by row (created_at columns aside), the vector files and the report's
# JSON and CSV tables byte for byte.
#
# usage: scripts/kill-soak.sh [N]     N kills (default 20). Needs `swift build -c release` first.
#   WORK: scratch folder (default a new temp dir). SEED: seed of the kill moments (default 22).
set -u
cd "$(dirname "$0")/.."
BIN=${PERSONA_BIN:-.build/release/persona}
[ -x "$BIN" ] || { echo "no $BIN: run swift build -c release first" >&2; exit 2; }
N=${1:-20}
WORK=${WORK:-$(mktemp -d /tmp/persona-soak.XXXXXX)}
RANDOM=${SEED:-22}
mkdir -p "$WORK/reference" "$WORK/soak"
# Thresholds low enough that the 135M model keeps pairs, and a judge (local-judge on the 135M model)
# that scores whatever mass its numbers carry (by default it withholds nearly every score of this
# model: numbers carry 6–10 % of the probability), so that the stages after filter have work; batches of 4 so that each commit comes soon after
# the last, whatever the machine's load, and a kill can land in every stage.
ARGS=(run --model smollm2-135m --traits evil,sycophantic --questions 2 --eval-questions 2 --samples 1
      --max-tokens 16 --steer-max-tokens 8 --coeffs 0,2 --coeff-unit raw --batch-size 4 --seed 5 --trait-threshold 1 --coherence-threshold 0
      --judge local-judge --judge-config '{"minimum_number_mass": 0.01}')
now() { date +%s.%N; }

# The uninterrupted run (T: its duration), then the same command again (S: the cost of a resume
# that finds everything stored: model and judge loading, key lookups).
t0=$(now)
"$BIN" "${ARGS[@]}" --out "$WORK/reference/run" >"$WORK/reference.log" 2>&1 || { echo "reference run failed: $WORK/reference.log" >&2; exit 1; }
t1=$(now)
"$BIN" "${ARGS[@]}" --out "$WORK/reference/run" >"$WORK/reference-again.log" 2>&1 || { echo "reference re-run failed" >&2; exit 1; }
t2=$(now)
T=$(echo "$t1 - $t0" | bc); S=$(echo "$t2 - $t1" | bc)
echo "uninterrupted run: ${T} s; a resume with everything stored: ${S} s" >&2

# Kill moments: uniform in [S/2, S + 2(T-S)/N] after each start, so the kills spread over the whole
# run (each resume repeats the start-up, then goes on where the store ends).
lo=$(echo "$S / 2" | bc -l); hi=$(echo "$S + 2 * ($T - $S) / $N" | bc -l)
kills=0; starts=0; finished_early=0
KILLLOG=$WORK/kills.tsv
: >"$KILLLOG"
while [ "$kills" -lt "$N" ]; do
    delay=$(echo "$lo + ($hi - $lo) * $RANDOM / 32767" | bc -l)
    "$BIN" "${ARGS[@]}" --out "$WORK/soak/run" >"$WORK/soak-$starts.log" 2>&1 &
    pid=$!
    starts=$((starts + 1))
    sleep "$delay"
    if kill -9 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null
        kills=$((kills + 1))
        # The stage in flight: the last progress or stage line the process wrote.
        stage=$(tr '\r' '\n' <"$WORK/soak-$((starts - 1)).log" | grep -v '^\s*$' | tail -1 | cut -c1-80)
        printf '%d\t%.2f\t%s\n' "$kills" "$delay" "$stage" >>"$KILLLOG"
    else
        wait "$pid"; status=$?
        finished_early=$((finished_early + 1))
        [ "$status" -ne 0 ] && { echo "a resumed run failed (status $status): $WORK/soak-$((starts - 1)).log" >&2; exit 1; }
    fi
done
"$BIN" "${ARGS[@]}" --out "$WORK/soak/run" >"$WORK/soak-final.log" 2>&1 || { echo "the final resume failed: $WORK/soak-final.log" >&2; exit 1; }
echo "kills: $kills (starts: $starts; runs that ended before their kill moment: $finished_early)" >&2
cut -f3 "$KILLLOG" | sed 's/[0-9][0-9]*\/[0-9][0-9]*.*//' | sort | uniq -c | sort -rn >&2

# Row-by-row comparison: every column but the creation times, blobs as hex, in key order.
dump() {
    local db=$1/run.sqlite
    sqlite3 -batch "$db" "SELECT key, kind, trait, question_index, question, instruction_index, polarity, sample_index, system_prompt, prompt_text, answer, prompt_tokens, response_tokens, stop_reason, seed, steering_layer, quote(coefficient), vector_key, engine FROM answers ORDER BY key" >"$1.answers"
    sqlite3 -batch "$db" "SELECT key, answer_key, kind, quote(score), no_score_reason, quote(number_mass), judge FROM scores ORDER BY key" >"$1.scores"
    sqlite3 -batch "$db" "SELECT answer_key, layers, hidden, response_tokens, prompt_tokens, hex(response_mean), hex(prompt_mean), hex(prompt_last) FROM activations ORDER BY answer_key" >"$1.activations"
    sqlite3 -batch "$db" "SELECT * FROM pair_decisions ORDER BY filter_key, question_index, instruction_index, sample_index" >"$1.decisions"
    sqlite3 -batch "$db" "SELECT key, trait, method, filter_key, layers, hidden, pair_count, hex(data), model FROM vectors ORDER BY key" >"$1.vectors"
    sqlite3 -batch "$db" "SELECT key, trait, vector_key, layer, quote(coefficient), positions, quote(mean_trait), quote(mean_coherence), scored_count, answer_count FROM steering_results ORDER BY key" >"$1.steering"
    sqlite3 -batch "$db" "SELECT trait, vector_key, layer, answer_key, condition, source, quote(value) FROM projections ORDER BY vector_key, layer, answer_key, source, condition" >"$1.projections"
    sqlite3 -batch "$db" "SELECT name, CASE WHEN name = 'run' THEN json_remove(value, '\$.createdAt') ELSE value END FROM run_info ORDER BY name" >"$1.run_info"
    sqlite3 -batch "$db" "SELECT * FROM trait_states ORDER BY trait" >"$1.trait_states"
    sqlite3 -batch "$db" "SELECT key, trait, layer, quote(coefficient), positions, quote(mean_trait_probability), item_probabilities, quote(mean_log_ratio) FROM behavior_results ORDER BY key" >"$1.behavior"
    sqlite3 -batch "$db" "SELECT * FROM geometry" >"$1.geometry"
}
dump "$WORK/reference/run"; dump "$WORK/soak/run"
"$BIN" report "$WORK/reference/run" >/dev/null 2>&1; "$BIN" report "$WORK/soak/run" >/dev/null 2>&1
different=0
for part in answers scores activations decisions vectors steering projections run_info trait_states behavior geometry; do
    a=$WORK/reference/run.$part; b=$WORK/soak/run.$part
    rows=$(wc -l <"$a")
    if cmp -s "$a" "$b"; then echo "$part: $rows rows, equal"
    else echo "$part: DIFFERENT ($rows rows in the reference, $(wc -l <"$b") after the kills; $(diff "$a" "$b" | grep -c '^<') reference rows not matched)"; different=$((different + 1)); fi
done
# How far apart differing scores are, should they differ (a judge call depends only on its own items:
# the host forgets its prefix caches before each, PluginAutorater.scoreChunk).
if ! cmp -s "$WORK/reference/run.scores" "$WORK/soak/run.scores"; then
    python3 - "$WORK/reference/run.scores" "$WORK/soak/run.scores" <<'PY'
import sys
def load(p):
    return {f[0]: (f[3], f[5]) for f in (line.rstrip("\n").split("|") for line in open(p))}
a, b = load(sys.argv[1]), load(sys.argv[2])
keys = set(a) | set(b)
one_sided = [k for k in keys if (k in a) != (k in b) or bool(a.get(k, ("", ""))[0]) != bool(b.get(k, ("", ""))[0])]
diffs = [abs(float(a[k][0]) - float(b[k][0])) for k in keys if k in a and k in b and a[k][0] and b[k][0]]
mass = [abs(float(a[k][1]) - float(b[k][1])) for k in keys if k in a and k in b and a[k][1] and b[k][1]]
print(f"scores: {sum(1 for k in keys if a.get(k) != b.get(k))} rows differ; largest |score difference| {max(diffs, default=0):.3g} points, "
      f"largest |number-mass difference| {max(mass, default=0):.3g}; scored on one side only: {len(one_sided)}")
PY
fi
for f in $(cd "$WORK/reference/run" && ls vectors/*.safetensors report/report.json report/tables/*.csv 2>/dev/null); do
    # report.json carries the run's creation time; compare it without that field.
    if [ "$f" = report/report.json ]; then
        a=$(sed 's/"createdAt" *: *"[^"]*"//' "$WORK/reference/run/$f"); b=$(sed 's/"createdAt" *: *"[^"]*"//' "$WORK/soak/run/$f")
        [ "$a" = "$b" ] && echo "$f: equal (creation time aside)" || { echo "$f: DIFFERENT"; different=$((different + 1)); }
    elif cmp -s "$WORK/reference/run/$f" "$WORK/soak/run/$f"; then echo "$f: equal"
    else echo "$f: DIFFERENT"; different=$((different + 1)); fi
done
echo "work folder: $WORK"
[ "$different" -eq 0 ]
