/* The Good plugin fixture (see ../fixture_common.inc). */
#define FIXTURE_GOOD 1
#include "../fixture_common.inc"
