/* SPDX-License-Identifier: MIT */
/*
 * The library's own memory (core/arena.c): registry nodes, plans, thread
 * records.  Page-granular, never freed; all calls with the lock held.
 */
#ifndef PK_CORE_ARENA_H
#define PK_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

/* Fresh zeroed memory, or NULL when the reservation is used up. */
void *pk__arena_alloc(size_t bytes);
/* Scratch space for one call's bookkeeping, reused by the next call. */
void *pk__arena_scratch(size_t bytes);
/* Where the reservation lies; both 0 before the first allocation. */
void pk__arena_bounds(uintptr_t *start, uintptr_t *end);

#endif
