/* The NoSymbol plugin fixture (see ../fixture_common.inc). */
#define FIXTURE_NO_SYMBOL 1
#include "../fixture_common.inc"
