#!/usr/bin/env bash
# Damaged run stores (issue 22): truncated, byte-flipped and schema-altered copies of a real
# run.sqlite are given to `persona report` and to every `persona stage`. Each command must end
# with an error that names the problem and a non-zero exit status, never with a signal (a trap or
# crash), and a command that fails must leave the file as it was (SHA-256 before and after).
# A flipped byte can land where nothing reads it; such a copy may then be used normally (exit 0),
# which is counted separately.
#
# usage: scripts/damaged-stores.sh [RUN_DIR]
#   RUN_DIR: a finished run to damage copies of (default: a small run made here with
#   smollm2-135m, two traits, every stage, thresholds low enough that pairs are kept and every
#   table has rows: scripts/kill-soak.sh's reference run is such a run). Needs `swift build -c release` first.
#   FLIPS: how many byte-flipped copies (default 6). WORK: scratch folder (default a new temp dir).
set -u
cd "$(dirname "$0")/.."
BIN=${PERSONA_BIN:-.build/release/persona}
[ -x "$BIN" ] || { echo "no $BIN: run swift build -c release first" >&2; exit 2; }
WORK=${WORK:-$(mktemp -d /tmp/persona-damaged.XXXXXX)}
FLIPS=${FLIPS:-6}
mkdir -p "$WORK"

BASE=${1:-$WORK/base}
if [ ! -f "$BASE/run.sqlite" ]; then
    echo "making the run to damage: $BASE" >&2
    "$BIN" run --model smollm2-135m --traits evil,sycophantic --questions 2 --eval-questions 2 --samples 1 \
        --max-tokens 16 --steer-max-tokens 8 --coeffs 0,2 --coeff-unit raw --batch-size 4 --seed 5 --trait-threshold 1 --coherence-threshold 0 \
        --judge local-judge --judge-config '{"minimum_number_mass": 0.01}' --out "$BASE" >"$WORK/base.log" 2>&1 \
        || { echo "the base run failed: see $WORK/base.log" >&2; exit 1; }
fi
# One self-contained file (no -wal beside it) to damage.
CLEAN=$WORK/clean.sqlite
rm -f "$CLEAN"
sqlite3 "$BASE/run.sqlite" ".backup '$CLEAN'"
SIZE=$(stat -c %s "$CLEAN")

# make_copy NAME: a run directory holding a fresh copy of the clean store; prints its path.
make_copy() {
    local dir=$WORK/variants/$1
    rm -rf "$dir"; mkdir -p "$dir"
    cp "$CLEAN" "$dir/run.sqlite"
    echo "$dir"
}

variants=()
# Truncated: inside the header, after the first page, halfway, one byte short.
for cut in 60 4096 $((SIZE / 2)) $((SIZE - 1)); do
    d=$(make_copy "truncated-$cut"); truncate -s "$cut" "$d/run.sqlite"; variants+=("$d")
done
# Byte-flipped: the header's magic, the page size, then random bytes (seeded, reproducible).
d=$(make_copy flip-magic); printf 'X' | dd of="$d/run.sqlite" bs=1 seek=0 conv=notrunc status=none; variants+=("$d")
d=$(make_copy flip-pagesize); printf '\x03\x01' | dd of="$d/run.sqlite" bs=1 seek=16 conv=notrunc status=none; variants+=("$d")
RANDOM=22
for i in $(seq 1 "$FLIPS"); do
    d=$(make_copy "flip-random-$i")
    for _ in $(seq 1 $((i * 4))); do
        offset=$(( (RANDOM * 32768 + RANDOM) % SIZE ))
        printf "\\x$(printf %02x $((RANDOM % 256)))" | dd of="$d/run.sqlite" bs=1 seek="$offset" conv=notrunc status=none
    done
    variants+=("$d")
done
# Schema-altered: what a hand edit or another program could leave.
alter() { d=$(make_copy "$1"); sqlite3 "$d/run.sqlite" "$2" || echo "could not make $1" >&2; variants+=("$d"); }
alter schema-drop-scores "DROP TABLE scores;"
alter schema-rename-column "ALTER TABLE answers RENAME COLUMN question_index TO question_number;"
alter schema-text-in-integer "UPDATE answers SET question_index = 'seven' WHERE rowid = (SELECT min(rowid) FROM answers);"
alter schema-real-in-integer "UPDATE vectors SET layers = 2.5;"
alter schema-blob-in-text "UPDATE scores SET judge = x'ff00';"
alter schema-later-version "INSERT INTO grdb_migrations(identifier) VALUES ('v9-later');"
alter schema-run-info-json "UPDATE run_info SET value = '{\"name\": 3}' WHERE name = 'run';"
alter schema-no-migrations "DROP TABLE grdb_migrations;"

commands=("report" "stage generate" "stage judge" "stage filter" "stage extract" "stage behave" "stage steer" "stage monitor" "stage geometry")
RESULTS=$WORK/results.tsv
: >"$RESULTS"
total=0; errors=0; succeeded=0; signals=0; rewritten=0; unnamed=0
for dir in "${variants[@]}"; do
    name=$(basename "$dir")
    for cmd in "${commands[@]}"; do
        # Every command gets its own fresh copy: an earlier command that succeeded may have written.
        rm -rf "$dir.run"; cp -r "$dir" "$dir.run"
        before=$(sha256sum "$dir.run/run.sqlite" | cut -d' ' -f1)
        if [ "$cmd" = report ]; then
            timeout 600 "$BIN" report "$dir.run" --out "$dir.run/report" >"$WORK/out.txt" 2>"$WORK/err.txt"; status=$?
        else
            timeout 600 "$BIN" $cmd --run "$dir.run" >"$WORK/out.txt" 2>"$WORK/err.txt"; status=$?
        fi
        after=$(sha256sum "$dir.run/run.sqlite" | cut -d' ' -f1)
        message=$(grep -v '^\[' "$WORK/err.txt" | grep -iv '^run \|^warning' | tail -1 | cut -c1-200)
        total=$((total + 1))
        verdict=error
        if [ "$status" -eq 0 ]; then verdict=ok; succeeded=$((succeeded + 1))
        elif [ "$status" -gt 128 ] || [ "$status" -eq 124 ]; then verdict=SIGNAL-OR-TIMEOUT; signals=$((signals + 1))
        else
            errors=$((errors + 1))
            [ "$before" != "$after" ] && { verdict=REWRITTEN; rewritten=$((rewritten + 1)); }
            [ -z "$message" ] && { verdict=UNNAMED; unnamed=$((unnamed + 1)); }
        fi
        printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$cmd" "$status" "$verdict" "$message" >>"$RESULTS"
        rm -rf "$dir.run"
    done
done
column -t -s $'\t' "$RESULTS"
echo
echo "copies: ${#variants[@]}, commands: $total; failed with an error: $errors; ran normally (damage not on a read path): $succeeded"
echo "signals or timeouts: $signals; failed but rewrote the file: $rewritten; failed without a message: $unnamed"
echo "results: $RESULTS"
[ "$signals" -eq 0 ] && [ "$rewritten" -eq 0 ] && [ "$unnamed" -eq 0 ]
