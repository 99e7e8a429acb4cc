// The module is the header (include/persona_prefetch.h); SwiftPM needs one source file per C target.
#include "persona_prefetch.h"
