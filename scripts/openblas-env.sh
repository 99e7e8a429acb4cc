#!/usr/bin/env bash
# Prints the environment assignments of persona's OpenBLAS kernel choice for programs that do not
# start through `persona` (its entry point makes the choice: Sources/persona/OpenBLASCoreChoice.swift):
# "OPENBLAS_CORETYPE=X PERSONA_OPENBLAS_CORE_SET=X" when OpenBLAS fell back to its generic kernels on a
# CPU it does not know, nothing otherwise. The same query as persona's (Sources/COpenBLASCore), compiled
# here in a second. `make test` starts the test processes with it: env $(scripts/openblas-env.sh) swift test
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "${OPENBLAS_CORETYPE:-}" ] || [ -n "${PERSONA_KEEP_OPENBLAS_CORE:-}" ]; then exit 0; fi
out=.build/openblas-env
mkdir -p "$out"
cat > "$out/main.c" <<'C'
#include <stdio.h>
#include "openblas_core.h"
int main(void) {
    const char *core = persona_openblas_better_core();
    if (core) printf("OPENBLAS_CORETYPE=%s PERSONA_OPENBLAS_CORE_SET=%s\n", core, core);
    return 0;
}
C
compiler=$(command -v clang || command -v cc || true)
if [ -z "$compiler" ] || ! "$compiler" -O1 -I Sources/COpenBLASCore/include "$out/main.c" Sources/COpenBLASCore/openblas_core.c \
     -lopenblas -o "$out/openblas-env" 2> "$out/build.log"; then
  echo "warning: scripts/openblas-env.sh could not build its check ($out/build.log); the tests run on OpenBLAS's own kernel choice" >&2
  exit 0
fi
"$out/openblas-env"
