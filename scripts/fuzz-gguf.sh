#!/usr/bin/env bash
# Build the GGUF reader with libFuzzer + AddressSanitizer and fuzz it for FUZZ_SECONDS (default 60).
# Seeds: a few valid GGUF headers cut from the default models. Findings are written as crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
OUT=.build/fuzz
mkdir -p "$OUT/mod" "$OUT/corpus"
FLAGS=(-sanitize=fuzzer,address -parse-as-library -O -g -module-cache-path "$OUT/cache")
# The modules the reader needs, compiled with the same instrumentation.
swiftc "${FLAGS[@]}" -emit-module -emit-library -static -module-name PersonaTensor \
  Sources/PersonaTensor/GGMLType.swift -emit-module-path "$OUT/mod/PersonaTensor.swiftmodule" -o "$OUT/libPersonaTensor.a"
swiftc "${FLAGS[@]}" -emit-module -emit-library -static -module-name PersonaModel -I "$OUT/mod" \
  Sources/PersonaModel/GGUF/*.swift Sources/PersonaModel/Files/MappedFile.swift Sources/PersonaModel/Config/ModelConfig.swift \
  -emit-module-path "$OUT/mod/PersonaModel.swiftmodule" -o "$OUT/libPersonaModel.a"
swiftc "${FLAGS[@]}" -I "$OUT/mod" Fuzz/GGUFFuzz/main.swift "$OUT/libPersonaModel.a" "$OUT/libPersonaTensor.a" -o "$OUT/gguf-fuzz"
# Seed corpus: the first 64 KiB of each default model present (header + metadata + tensor infos).
for m in models/*.gguf; do [ -f "$m" ] && head -c 65536 "$m" > "$OUT/corpus/$(basename "$m").head" || true; done
echo "fuzz: running for ${SECONDS_TO_RUN}s"
"$OUT/gguf-fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=70000 -rss_limit_mb=4096 -print_final_stats=1 "$OUT/corpus" 2>&1 | tail -25
