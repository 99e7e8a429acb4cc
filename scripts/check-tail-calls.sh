#!/usr/bin/env bash
# Finds throwing Swift functions that end in a tail jump to memcpy/memmove/memset in a release
# binary. Swift 6.3.1's LLVM emits such jumps without restoring the error register (r12), so the
# caller sees a bogus error and crashes. Usage: scripts/check-tail-calls.sh BINARY...
set -euo pipefail
status=0
for bin in "$@"; do
  objdump -d --no-show-raw-insn "$bin" | awk '
    /^[0-9a-f]+ <.*>:$/ { name = $2 }
    /jmp +[0-9a-f]+ <(memmove|memcpy|memset)@plt>/ { print name }' | sort -u | tr -d '<>:' | while read -r sym; do
      demangled=$(swift demangle --compact "$sym" 2>/dev/null || echo "$sym")
      # A closure is named "closure #N SIGNATURE in PARENT": whether it throws is its own signature's
      # business, not its parent's (an XCTAssert message autoclosure in a throwing test does not throw).
      own="$demangled"
      case "$demangled" in
        *"closure #"*" in "*) own="${demangled#*closure #}"; own="${own%% in *}" ;;
      esac
      case "$demangled" in
        "outlined "*) own="" ;;
      esac
      case "$own" in
        # Compiler-outlined helpers (value copies, enum tag stores) are named after the function
        # they came from, "throws" included, but are not throwing functions themselves: they have
        # no error register to lose (own is emptied above).
        "") ;;
        *" throws "*|*" throws("*|*"throws ->"*) echo "$bin: throwing function tail-jumps into a mem intrinsic: $demangled"; echo FOUND ;;
      esac
    done
done | tee /tmp/check-tail-calls.$$ | grep -v '^FOUND$' || true
if grep -q '^FOUND$' /tmp/check-tail-calls.$$; then status=1; fi
rm -f /tmp/check-tail-calls.$$
exit $status
