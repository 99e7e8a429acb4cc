/* The SmallStruct plugin fixture (see ../fixture_common.inc). */
#define FIXTURE_SMALL_STRUCT 1
#include "../fixture_common.inc"
