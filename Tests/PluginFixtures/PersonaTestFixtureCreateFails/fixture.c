/* The CreateFails plugin fixture (see ../fixture_common.inc). */
#define FIXTURE_CREATE_FAILS 1
#include "../fixture_common.inc"
