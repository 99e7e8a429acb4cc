#!/bin/sh
# Builds and runs the integer kernel harness: bit-identity plain vs AVX2 / AVX-512 VNNI / AVX-VNNI
# (each where the CPU has it), independence of
# count/start/end, the float bound, the old-vs-new benchmark (skip it with --no-bench) and the
# AVX2-vs-VNNI benchmark (--no-vnni-bench skips it; --vnni: checks and that table only;
# --vnni-bench-only).
# Usage: Tests/IntegerKernelHarness/run.sh [--no-bench] [--bench-only] [--quick] [--vnni] [--vnni-bench-only] [--no-vnni-bench]
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../Sources/CPersonaIntegerKernels"
out=${TMPDIR:-/tmp}/persona-integer-harness
CC=${CC:-gcc}
$CC -O2 -mavx2 -mfma -mf16c -ffp-contract=off -Wall -Wno-unknown-pragmas -Wno-misleading-indentation \
    -I"$src/include" "$here/harness.c" "$src/integer.c" "$here/integer_old.c" -lm -o "$out"
exec "$out" "$@"
