/* SPDX-License-Identifier: MIT */
#ifndef PK_CORE_REGISTRY_H
#define PK_CORE_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "core/range.h"
#include "core/rights.h"

/*
 * Key assignments (core/registry.c).  Each range has a key (0 only when a
 * range was assigned key 0 explicitly), the protection the program gave
 * its pages (the emulation narrows it by the rights in force), and
 * flags: MAPPED while pages are mapped there, PERSIST when the key
 * outlives the mapping.  All calls need the lock, except reading the
 * counters, which fast paths do without it to skip work when nothing
 * is registered.  Updates need room reserved first (pk__reg_reserve):
 * 3 nodes per assign/set_prot/unmap/map call.
 */
int pk__reg_reserve(size_t extra);
/* Give [start,end) one assignment (key -1: none). */
void pk__reg_assign(uintptr_t start, uintptr_t end, int key, int prot,
		    unsigned flags);
/* Change the prot of the mapped, assigned parts of [start,end). */
void pk__reg_set_prot(uintptr_t start, uintptr_t end, int prot);
/* Pages went away: forget assignments, keep PERSIST ones as unmapped. */
void pk__reg_unmap(uintptr_t start, uintptr_t end);
/* New pages with prot appeared under (PERSIST) assignments. */
void pk__reg_map(uintptr_t start, uintptr_t end, int prot);
/*
 * A mapping moved (mremap); keep_old when the old one stays.  Every
 * assignment at the target is replaced, persistent ones too.
 */
int pk__reg_move(uintptr_t old, size_t oldlen, uintptr_t new_addr,
		 size_t newlen, int keep_old);
/*
 * The key assigned at addr without the lock (0 when none), or -1 when
 * writers kept changing the list: then ask pk__reg_find under the lock.
 */
int pk__reg_key_of(uintptr_t addr);
/* The first range that ends after addr, or NULL; walk with next[0]. */
struct pk__range *pk__reg_lower(uintptr_t addr);
const struct pk__range *pk__reg_find(uintptr_t addr);
int pk__reg_overlaps(uintptr_t start, uintptr_t end);
/*
 * Whether any assignment meets [start,end), without the lock (0 or 1),
 * or -1 when writers kept changing the list: then ask under the lock.
 */
int pk__reg_overlaps_nolock(uintptr_t start, uintptr_t end);
/* Whether a persistent assignment meets [start,end).  lock held. */
int pk__reg_persist_in(uintptr_t start, uintptr_t end);
int pk__reg_key_in_use(int key);
extern struct pk__range *pk__reg_by_key[PK__KEYS];
extern size_t pk__reg_n, pk__reg_persist_n;
/* Pages [start,end) were unmapped: forget them (room reserved here). */
void pk__reg_unmapped(uintptr_t start, uintptr_t end);

static inline int pk__reg_empty(void)
{
	return __atomic_load_n(&pk__reg_n, __ATOMIC_RELAXED) == 0;
}

#endif
