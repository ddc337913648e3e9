#include "HeapRelease.h"

#if defined(__linux__)
#include <malloc.h> // also defines __GLIBC__ when the C library is glibc
#endif

#if defined(__GLIBC__)
void fathom_release_free_heap(void) { malloc_trim(0); }
#else
void fathom_release_free_heap(void) {}
#endif
