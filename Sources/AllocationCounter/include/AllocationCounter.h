#ifndef FATHOM_ALLOCATION_COUNTER_H
#define FATHOM_ALLOCATION_COUNTER_H

/// Heap allocations (malloc, calloc, realloc, aligned allocations) made by this process so far.
/// Counting works on Linux with glibc, where this target replaces the allocator's entry points
/// and forwards to glibc's; elsewhere it stays 0 and fathom_allocation_counting_available is 0.
unsigned long long fathom_allocation_count(void);
int fathom_allocation_counting_available(void);

/// Bytes the allocator has handed out and not taken back (glibc's mallinfo2); 0 elsewhere.
unsigned long long fathom_heap_bytes_in_use(void);

#endif
