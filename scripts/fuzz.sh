#!/usr/bin/env bash
# Build every fuzz target under Fuzz/ with libFuzzer + AddressSanitizer and run each for FUZZ_SECONDS
# (default 60). Targets: the GGUF reader (seeds: headers cut from the default models) and the
# chat-template engine (seeds: the test templates and the hostile cases of TemplateTests).
# Findings are written as .build/fuzz/crash-*; the script fails when a target fails.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
OUT=.build/fuzz
mkdir -p "$OUT/mod" "$OUT/corpus-gguf" "$OUT/corpus-jinja" "$OUT/template-mod"
FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -module-cache-path "$OUT/cache")

# GGUF reader: the modules it needs, compiled with the same instrumentation.
swiftc "${FLAGS[@]}" -emit-module -emit-library -static -module-name PersonaTensor \
  Sources/PersonaTensor/GGMLType.swift -emit-module-path "$OUT/mod/PersonaTensor.swiftmodule" -o "$OUT/libPersonaTensor.a"
swiftc "${FLAGS[@]}" -emit-module -emit-library -static -module-name PersonaModel -I "$OUT/mod" \
  Sources/PersonaModel/GGUF/*.swift Sources/PersonaModel/Files/MappedFile.swift Sources/PersonaModel/Config/ModelConfig.swift \
  -emit-module-path "$OUT/mod/PersonaModel.swiftmodule" -o "$OUT/libPersonaModel.a"
swiftc "${FLAGS[@]}" -I "$OUT/mod" Fuzz/GGUFFuzz/main.swift "$OUT/libPersonaModel.a" "$OUT/libPersonaTensor.a" -o "$OUT/gguf-fuzz"
# The first 64 KiB of each default model present (header + metadata + tensor infos).
for m in models/*.gguf; do [ -f "$m" ] && head -c 65536 "$m" > "$OUT/corpus-gguf/$(basename "$m").head" || true; done

# Chat templates: the template folder alone (it needs only Foundation), as module PersonaModel.
swiftc "${FLAGS[@]}" -emit-module -emit-library -static -module-name PersonaModel \
  Sources/PersonaModel/Template/*.swift -emit-module-path "$OUT/template-mod/PersonaModel.swiftmodule" -o "$OUT/libPersonaTemplate.a"
swiftc "${FLAGS[@]}" -I "$OUT/template-mod" Fuzz/JinjaFuzz/main.swift "$OUT/libPersonaTemplate.a" -o "$OUT/jinja-fuzz"
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

run() {  # name binary corpus max_len [flags]
  echo "fuzz: $1 for ${SECONDS_TO_RUN}s"
  (cd "$OUT" && "./$2" -max_total_time="$SECONDS_TO_RUN" -max_len="$4" -timeout=5 -rss_limit_mb=4096 -print_final_stats=1 "${@:5}" "$3" 2>&1 | tail -25
   exit "${PIPESTATUS[0]}")
}
status=0
run gguf gguf-fuzz corpus-gguf 70000 || status=1
# No leak check: the builtins table is built once, on the first input, and looks like a leak to LSan;
# a namespace that holds itself is a cycle we accept (freed with the process).
ASAN_OPTIONS=detect_leaks=0 run jinja jinja-fuzz corpus-jinja 8192 -detect_leaks=0 || status=1
exit $status
