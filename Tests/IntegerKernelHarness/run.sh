#!/bin/sh
# Builds and runs the integer kernel harness: bit-identity plain vs AVX2, independence of
# count/start/end, the float bound, and the old-vs-new benchmark (skip it with --no-bench).
# Usage: Tests/IntegerKernelHarness/run.sh [--no-bench] [--bench-only] [--quick]
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../Sources/CPersonaIntegerKernels"
out=${TMPDIR:-/tmp}/persona-integer-harness
CC=${CC:-gcc}
$CC -O2 -mavx2 -mfma -mf16c -ffp-contract=off -Wall -Wno-unknown-pragmas -Wno-misleading-indentation \
    -I"$src/include" "$here/harness.c" "$src/integer.c" "$here/integer_old.c" -lm -o "$out"
exec "$out" "$@"
