#ifndef FATHOM_HEAP_RELEASE_H
#define FATHOM_HEAP_RELEASE_H

/// Hands the allocator's free pages back to the operating system (glibc's malloc_trim); a no-op
/// where the allocator does not offer it. The agent calls it once per report window: glibc keeps
/// freed memory in its arenas, and a thousand scrapes a window free and reuse a lot of it.
void fathom_release_free_heap(void);

#endif
