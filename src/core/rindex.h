/* SPDX-License-Identifier: MIT */
/*
 * The registry's lookup index (core/rindex.c): every listed range's
 * start and node, sorted, in chunks of a few kilobytes under a small
 * top array.  A lookup is two binary searches over contiguous memory
 * and one node read, where a walk down the skip list's levels met a
 * cache miss at nearly every step (its nodes lie apart in memory).
 * Updates move at most one chunk's entries.
 *
 * The index is only a shortcut: when it cannot grow (the arena is
 * full) it is switched off, lookups walk the skip list again, and the
 * registry's next reserve builds it anew.  Writers hold the library's
 * lock and the registry's count is odd (core/registry.c); readers read
 * it with atomic loads under that count, never past a block's end.
 */
#ifndef PK_CORE_RINDEX_H
#define PK_CORE_RINDEX_H

#include <stddef.h>
#include <stdint.h>

struct pk__range;

/*
 * Whether the index is off (at first, and after it could not grow), and
 * building it from the list that starts at first: 0, or -1 (still off).
 * Build inside a registry write: readers must not trust a half-built
 * index.
 */
int pk__rindex_off(void);
int pk__rindex_build(struct pk__range *first);
/* Off now, as when it cannot grow (and for tests of that path). */
void pk__rindex_switch_off(void);
/* A node came into the list, or is leaving it (its start unchanged). */
void pk__rindex_add(struct pk__range *r);
void pk__rindex_remove(const struct pk__range *r);
/* r's end changed (the start never does while it is listed). */
void pk__rindex_set_end(const struct pk__range *r);
/*
 * The last node starting at or below addr: node (NULL: none), its
 * start, end and key, and the start of the node after it (or of the
 * first node when none; UINTPTR_MAX when there is no such node).
 * 0, or -1 when the index is off (then walk the list).  Lock-free: the
 * answer may be garbage unless the registry's count says no writer ran
 * meanwhile.
 */
struct pk__rindex_hit {
	struct pk__range *node;
	uintptr_t start, end, next_start;
	int key;
};
int pk__rindex_find(uintptr_t addr, struct pk__rindex_hit *h);

#endif
