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
# The old-vs-new benchmark's "old": the kernels before the lane contract (commit bfda109), taken from
# git history rather than kept as a copy, public symbols renamed so both link in one binary.
old=${TMPDIR:-/tmp}/persona-integer-old.c
{
    for f in persona_quantize_q8 persona_integer_supported persona_integer_dot persona_integer_rows; do
        echo "#define $f old_$f"
    done
    git -C "$here" show bfda109:Sources/CPersonaIntegerKernels/integer.c
} >"$old"
$CC -O2 -mavx2 -mfma -mf16c -ffp-contract=off -Wall -Wno-unknown-pragmas -Wno-misleading-indentation \
    -I"$src/include" "$here/harness.c" "$src/integer.c" "$old" -lm -o "$out"
exec "$out" "$@"
