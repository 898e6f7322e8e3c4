// OpenBLAS's CBLAS interface plus its runtime queries (core name, threads).
#include <cblas.h>
