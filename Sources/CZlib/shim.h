// zlib (Debian's zlib1g-dev): raw DEFLATE inflate and CRC-32 for the ZIP container of `.pt` files.
#include <zlib.h>
