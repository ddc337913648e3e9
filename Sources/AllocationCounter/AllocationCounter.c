// Counts heap allocations for the benchmark by defining the allocator entry points in the
// executable; glibc resolves malloc and friends to these, and they forward to glibc's own
// implementation (__libc_*). Only linked into fathom-bench, never into the agent.
#include "AllocationCounter.h"

// Any libc header defines __GLIBC__, which the check below needs.
#include <stdlib.h>

#if defined(__linux__) && defined(__GLIBC__)
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static _Atomic unsigned long long allocation_count;

static inline void count_one(void) {
    atomic_fetch_add_explicit(&allocation_count, 1, memory_order_relaxed);
}

void *malloc(size_t size) {
    count_one();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    count_one();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    count_one();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    count_one();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    count_one();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **result, size_t alignment, size_t size) {
    count_one();
    void *pointer = __libc_memalign(alignment, size);
    if (pointer == NULL) {
        return ENOMEM;
    }
    *result = pointer;
    return 0;
}

unsigned long long fathom_allocation_count(void) {
    return atomic_load_explicit(&allocation_count, memory_order_relaxed);
}

int fathom_allocation_counting_available(void) { return 1; }

#else

unsigned long long fathom_allocation_count(void) { return 0; }

int fathom_allocation_counting_available(void) { return 0; }

#endif

#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>

unsigned long long fathom_heap_bytes_in_use(void) {
    struct mallinfo2 info = mallinfo2();
    // Small chunks in the arenas plus chunks large enough to have their own mapping.
    return (unsigned long long)(info.uordblks + info.hblkhd);
}
#else
unsigned long long fathom_heap_bytes_in_use(void) {
    return 0;
}
#endif
