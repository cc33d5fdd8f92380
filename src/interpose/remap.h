/* SPDX-License-Identifier: MIT */
/* Settling the registry after mremap(2) moves (interpose/remap.c). */
#ifndef PK_INTERPOSE_REMAP_H
#define PK_INTERPOSE_REMAP_H

#include <stddef.h>
#include <stdint.h>

/* The kernel's mappings in [lo,hi), clipped to it, in address order;
 * overflow when there were more than fit. */
enum { PK__EXTENTS_MAX = 32 };
struct pk__extents {
	uintptr_t lo, hi;
	int n, overflow;
	struct {
		uintptr_t start, end;
	} at[PK__EXTENTS_MAX];
};

/* Read them (0), or -1 when the kernel's mappings cannot be read. */
int pk__extents_read(struct pk__extents *x, uintptr_t start, uintptr_t end);
/* Whether [lo,hi) is one mapping, whole. */
int pk__extents_whole(const struct pk__extents *x);
/*
 * After a MREMAP_FIXED move from before's window to target (newlen
 * bytes), successful or not: move what the kernel moved in the
 * registry and forget what it unmapped.  Lock held.
 */
void pk__remap_settle(const struct pk__extents *before, uintptr_t target,
		      size_t newlen);

/*
 * Pages moved into a persistent assignment take its key, as memory
 * mapped there does (pk_protect_range(3), PK_RANGE_PERSIST).  Read the
 * persistent assignments of the target before the registry records the
 * move (which replaces them), apply them after.  Lock held.
 */
struct pk__persists {
	int n;
	struct {
		uintptr_t start, end;
		int key;
	} at[PK__EXTENTS_MAX];
};
void pk__persists_read(struct pk__persists *ps, uintptr_t start,
		       uintptr_t end);
struct pk__backend;
void pk__persists_apply(const struct pk__backend *b,
			const struct pk__persists *ps);

#endif
