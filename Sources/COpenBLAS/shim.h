// OpenBLAS's CBLAS interface (Debian: libopenblas-dev installs cblas.h under the multiarch include dir).
#include <cblas.h>
