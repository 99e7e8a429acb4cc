/* The BadVersion plugin fixture (see ../fixture_common.inc). */
#define FIXTURE_BAD_VERSION 1
#include "../fixture_common.inc"
