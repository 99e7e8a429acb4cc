/* The BadPack plugin fixture (see ../fixture_common.inc). */
#define FIXTURE_BAD_PACK 1
#include "../fixture_common.inc"
