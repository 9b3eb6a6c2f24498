// csimd.c: csimd.h is header-only; SwiftPM builds a C target from at least one source.
#include "csimd.h"
