#!/usr/bin/env bash
# Build every fuzz target under Fuzz/ with libFuzzer + AddressSanitizer and run each for FUZZ_SECONDS
# (default 60). Each target compiles only the source files its reader needs, as a static module of
# the same name as in the package (the readers are kept free of the rest of their module for this).
# Targets and their seeds:
#   gguf         GGUF reader                  headers cut from the default models
#   safetensors  safetensors header reader    small files written below
#   torch        `.pt` reader (ZIP + pickle)  the .pt/.zip fixtures of Tests/PersonaCoreTests
#   tokenizer    tokenizer.json               small byte-level BPE files written below
#   jinja        chat templates               the test templates and TemplateTests' hostile cases
#   pack         trait pack JSON              TraitPacks/*/pack.json, Tests/PackFixtures, a reference trait JSON
#   judge        judge and generation replies replies written below (no network stack: PersonaHTTP without
#                HTTPClient.swift, the judge's core without OpenAIJudge+HTTPClient.swift)
#   server       `persona serve` requests     request bodies written below
# FUZZ_TARGETS="torch pack" runs only those; FUZZ_RUNS=N also stops a target after N executions (the
# issue-22 soak: FUZZ_SECONDS=3600 FUZZ_RUNS=10000000, whichever comes first). Findings are written as .build/fuzz/crash-* (or
# timeout-*, oom-*); the script fails when a target fails.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
TARGETS="${FUZZ_TARGETS:-gguf safetensors torch tokenizer jinja pack judge server}"
RUNS=()
[ -n "${FUZZ_RUNS:-}" ] && RUNS=(-runs="$FUZZ_RUNS")
OUT=.build/fuzz
FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -module-cache-path "$OUT/cache")
mkdir -p "$OUT"

module() {  # folder module-name [-I dirs...] -- sources...: a static, instrumented module in $OUT/folder
  local folder=$1 name=$2; shift 2
  local includes=()
  while [ "$1" != "--" ]; do includes+=("$1"); shift; done; shift
  mkdir -p "$OUT/$folder"
  swiftc "${FLAGS[@]}" -emit-module -emit-library -static -module-name "$name" "${includes[@]}" "$@" \
    -emit-module-path "$OUT/$folder/$name.swiftmodule" -o "$OUT/$folder/lib$name.a"
}
binary() {  # name main.swift folders... [extra swiftc flags]: links the target against the modules of the folders named
  local name=$1 main=$2; shift 2
  local args=()
  while [ $# -gt 0 ] && [ "${1:0:1}" != "-" ]; do args+=(-I "$OUT/$1"); for a in "$OUT/$1"/*.a; do args+=("$a"); done; shift; done
  args+=("$@")
  swiftc "${FLAGS[@]}" "$main" "${args[@]}" -o "$OUT/$name-fuzz"
}
corpus() { rm -rf "$OUT/corpus-$1"; mkdir -p "$OUT/corpus-$1"; }
wants() { [[ " $TARGETS " == *" $1 "* ]]; }

# Shared modules: the numeric types the model readers use, and the text side of PersonaModel
# (templates, tokenizer, JSON values) that needs only Foundation.
module tensor PersonaTensor -- Sources/PersonaTensor/GGMLType.swift Sources/PersonaTensor/Quant/Half.swift
module text PersonaModel -- Sources/PersonaModel/Template/*.swift Sources/PersonaModel/Files/JSONValue.swift Sources/PersonaModel/Files/MappedFile.swift \
  $(ls Sources/PersonaModel/Tokenizer/*.swift | grep -v Tokenizer+GGUF)

if wants gguf || wants safetensors; then
  module files PersonaModel -I "$OUT/tensor" -- Sources/PersonaModel/GGUF/*.swift Sources/PersonaModel/Files/MappedFile.swift \
    Sources/PersonaModel/Files/JSONValue.swift Sources/PersonaModel/Config/ModelConfig.swift \
    Sources/PersonaModel/SafeTensors/SafetensorsFile.swift Sources/PersonaModel/SafeTensors/SafetensorsError.swift
fi
if wants gguf; then
  binary gguf Fuzz/GGUFFuzz/main.swift files tensor
  corpus gguf
  # A small valid file, and each default model present with its long arrays (vocabulary, merges)
  # dropped so that the seed holds its whole tensor table (a prefix of the file does not: the
  # metadata alone is 1.7–6 MB). seeds.py checks the table is inside every seed.
  python3 Fuzz/GGUFFuzz/seeds.py "$OUT/corpus-gguf" $(ls models/*.gguf 2>/dev/null)
fi
if wants safetensors; then
  binary safetensors Fuzz/SafetensorsFuzz/main.swift files tensor
  corpus safetensors
  python3 - "$OUT/corpus-safetensors" <<'PY'
import json, struct, sys, pathlib
out = pathlib.Path(sys.argv[1])
def write(name, header, data):
    h = json.dumps(header).encode()
    (out / name).write_bytes(struct.pack("<Q", len(h)) + h + data)
write("vectors.safetensors", {"__metadata__": {"persona.trait": "evil", "persona.method": "response_avg", "persona.layers": "block-output"},
      "vectors": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}}, bytes(range(48)))
write("vector.safetensors", {"vector": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(16))
write("mixed.safetensors", {"a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]},
      "b": {"dtype": "BF16", "shape": [2], "data_offsets": [8, 12]}, "c": {"dtype": "F32", "shape": [0, 5], "data_offsets": [12, 12]}}, bytes(12))
PY
fi
if wants torch; then
  module torch PersonaCore -I "$OUT/tensor" -I Sources/CZlib -- Sources/PersonaCore/Vectors/TorchVectorFile.swift \
    Sources/PersonaCore/Vectors/Pickle.swift Sources/PersonaCore/Vectors/ZipArchive.swift
  binary torch Fuzz/TorchFuzz/main.swift torch tensor -I Sources/CZlib -lz
  corpus torch
  cp Tests/PersonaCoreTests/Fixtures/vectors/*.pt Tests/PersonaCoreTests/Fixtures/vectors/*.zip "$OUT/corpus-torch/"
fi
if wants tokenizer; then
  binary tokenizer Fuzz/TokenizerFuzz/main.swift text
  corpus tokenizer
  python3 - "$OUT/corpus-tokenizer" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
# GPT-2's byte-to-character table (what byte-level BPE vocabularies are written in).
bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256 + n); n += 1
chars = [chr(c) for c in cs]
vocab = {c: i for i, c in enumerate(chars)}
merges = ["Ġ t", "h e", "Ġt he", "l l", "e ll", "h ell", "hell o", "Ġ w", "o r", "Ġw or", "1 2", "3 4"]
for m in merges: vocab.setdefault(m.replace(" ", ""), len(vocab))
added = [{"id": len(vocab), "content": "<|im_start|>", "special": True}, {"id": len(vocab) + 1, "content": "</s>", "special": True}]
qwen = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
docs = {
    "bytelevel": {"model": {"type": "BPE", "vocab": vocab, "merges": merges}, "added_tokens": added,
                  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False}, "normalizer": None},
    "qwen-split": {"model": {"type": "BPE", "vocab": vocab, "merges": [m.split(" ") for m in merges]}, "added_tokens": added,
                   "normalizer": {"type": "NFC"},
                   "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                       {"type": "Split", "pattern": {"Regex": qwen}, "behavior": "Isolated", "invert": False},
                       {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]}},
}
for name, doc in docs.items(): (out / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False))
PY
fi
if wants jinja; then
  binary jinja Fuzz/JinjaFuzz/main.swift text
  corpus jinja
  for t in Tests/PersonaModelTests/Fixtures/templates/*.jinja; do cp "$t" "$OUT/corpus-jinja/"; done
  python3 - "$OUT/corpus-jinja" <<'PY'
import json, re, sys, pathlib
out = pathlib.Path(sys.argv[1])
for name in ("smollm2-135m", "qwen2.5-0.5b"):
    ref = pathlib.Path("../shared/reference") / f"{name}.json"
    if not ref.exists(): ref = pathlib.Path("/work/shared/reference") / f"{name}.json"
    if ref.exists(): (out / f"{name}.jinja").write_text(json.loads(ref.read_text())["chat_template"]["template"])
tests = pathlib.Path("Tests/PersonaModelTests/TemplateTests.swift").read_text()
block = tests[tests.index("hostileTemplates"):tests.index("func testHostileTemplates")]
for i, m in enumerate(re.finditer(r'\("((?:[^"\\]|\\.)*)", "(?:[^"\\]|\\.)*"\)', block)):
    (out / f"hostile-{i}.jinja").write_text(m.group(1).encode().decode("unicode_escape"))
PY
fi
if wants pack; then
  module packs PersonaCore -- Sources/PersonaCore/Packs/TraitPack.swift Sources/PersonaCore/Packs/PackFiles.swift \
    Sources/PersonaCore/Packs/PackValidation.swift Sources/PersonaCore/Plugins/PluginError.swift
  binary pack Fuzz/PackFuzz/main.swift packs
  corpus pack
  for p in TraitPacks/*/pack.json Tests/PackFixtures/*/pack.json; do cp "$p" "$OUT/corpus-pack/$(basename "$(dirname "$p")").json"; done
  python3 - "$OUT/corpus-pack" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
# The reference repo's trait JSON shape (texts are placeholders).
(out / "reference.json").write_text(json.dumps({
    "instruction": [{"pos": f"Be the trait {i}.", "neg": f"Do not be the trait {i}."} for i in range(5)],
    "questions": [f"Question {i}?" for i in range(40)],
    "eval_prompt": "Question: {question}\nAnswer: {answer}\nREFUSAL or a number 0-100."}))
PY
fi
if wants judge; then
  module http PersonaHTTP -- $(ls Sources/PersonaHTTP/*.swift | grep -v '/HTTPClient\.swift$')
  module judge OpenAIJudgeCore -I "$OUT/http" -- $(ls Plugins/OpenAIAutorater/Core/*.swift | grep -v '+HTTPClient\.swift$')
  binary judge Fuzz/JudgeReplyFuzz/main.swift judge http
  corpus judge
  python3 - "$OUT/corpus-judge" <<'PY'
import json, math, sys, pathlib
out = pathlib.Path(sys.argv[1])
def reply(tops):
    return json.dumps({"id": "x", "object": "chat.completion", "choices": [{"index": 0, "finish_reason": "length",
        "message": {"role": "assistant", "content": tops[0][0]},
        "logprobs": {"content": [{"token": tops[0][0], "logprob": tops[0][1], "top_logprobs": [{"token": t, "logprob": lp} for t, lp in tops]}]}}]})
# The first byte picks the HTTP status (0: 200; 3: 400).
(out / "numbers").write_bytes(b"\0" + reply([("75", math.log(0.6)), ("80", math.log(0.3)), ("REF", math.log(0.05))]).encode())
(out / "digits").write_bytes(b"\0" + reply([("7", math.log(0.5)), ("8", math.log(0.3)), (" 9", math.log(0.1)), ("1", -5.0)]).encode())
(out / "refusal").write_bytes(b"\0" + reply([("REFUSAL", -0.01), ("100", -6.0)]).encode())
(out / "error").write_bytes(b"\3" + json.dumps({"error": {"message": "bad request", "type": "invalid_request_error"}}).encode())
PY
fi
if wants server; then
  module servercore PersonaCore -- Sources/PersonaCore/Steering/SteeringPositions.swift Sources/PersonaCore/Steering/ProjectionIntervention.swift
  module server PersonaServer -I "$OUT/text" -I "$OUT/servercore" -- Sources/PersonaServer/ChatCompletionRequest.swift
  binary server Fuzz/ServerRequestFuzz/main.swift server servercore text
  corpus server
  python3 - "$OUT/corpus-server" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
requests = {
    "plain": {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 16},
    "full": {"model": "m", "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
             {"role": "assistant", "content": "Hel"}], "temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 7, "stop": ["\n", "END"],
             "logprobs": True, "top_logprobs": 5, "stream": True, "stream_options": {"include_usage": True}, "continue_final_message": True,
             "add_generation_prompt": False, "max_completion_tokens": 8},
    "steering": {"messages": [{"role": "user", "content": "Hi"}], "steering": [{"vector": "evil", "layer": 12, "coeff": 4.0, "positions": "all"},
             {"vector": "optimistic", "layer": 3, "coefficient": -2, "positions": None}]},
    "inline": {"messages": [{"role": "user", "content": "Hi"}], "steering": [{"vector": [0.5, -1.25, 3e2, 0], "layer": 2, "coeff": 6}]},
    "projections": {"messages": [{"role": "user", "content": "Hi"}], "projections": [
             {"vector": "refusal", "intervention": "ablate", "layers": [3, 4], "direction_layer": 12, "positions": "all"},
             {"vector": [1.5, 0, -2], "intervention": "cap", "threshold": 3.5, "positions": "response"},
             {"vector": "evil", "intervention": "floor", "threshold": -1}]},
}
for name, body in requests.items(): (out / f"{name}.json").write_text(json.dumps(body))
PY
fi

run() {  # name max_len [flags]
  echo "fuzz: $1 for ${SECONDS_TO_RUN}s"
  (cd "$OUT" && "./$1-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len="$2" -timeout=5 -rss_limit_mb=4096 -print_final_stats=1 "${RUNS[@]}" "${@:3}" "corpus-$1" 2>&1 | tail -25
   exit "${PIPESTATUS[0]}")
}
status=0
wants gguf && { run gguf 70000 || status=1; }
wants safetensors && { run safetensors 4096 || status=1; }
wants torch && { run torch 8192 || status=1; }
wants tokenizer && { run tokenizer 65536 || status=1; }
# No leak check: the builtins table is built once, on the first input, and looks like a leak to LSan;
# a namespace that holds itself is a cycle we accept (freed with the process).
wants jinja && { ASAN_OPTIONS=detect_leaks=0 run jinja 8192 -detect_leaks=0 || status=1; }
wants pack && { run pack 65536 || status=1; }
wants judge && { run judge 8192 || status=1; }
wants server && { run server 8192 || status=1; }
exit $status
