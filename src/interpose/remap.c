/* SPDX-License-Identifier: MIT */
/*
 * mremap(2) moves that the registry cannot follow from the arguments
 * alone: a MREMAP_FIXED move of a source made of several mappings, or
 * one that failed.  Linux 6.17 and later move each mapping of such a
 * source and leave the target's pages in the source's gaps where they
 * were; a move can stop part way (a mapping it cannot move) and fail
 * with the first part moved; earlier kernels unmap the target and then
 * fail.  So the registry is settled against the kernel's own account:
 * what was mapped in the source before and is gone after moved to the
 * same offset in the target, and any page of either window the kernel
 * no longer maps is forgotten.  Everything here runs under the
 * library's lock, with no malloc (the mappings are read with
 * pk__vma_walk).
 */
#include <stdint.h>

#include "core/change.h"
#include "core/registry.h"
#include "interpose/remap.h"
#include "os/vma.h"

static int collect(void *ctx, uintptr_t start, uintptr_t end, int prot)
{
	struct pk__extents *x = ctx;

	(void)prot;
	if (start < x->lo)
		start = x->lo;
	if (end > x->hi)
		end = x->hi;
	if (x->n == PK__EXTENTS_MAX) {
		x->overflow = 1;
		return 1;
	}
	x->at[x->n].start = start;
	x->at[x->n].end = end;
	x->n++;
	return 0;
}

int pk__extents_read(struct pk__extents *x, uintptr_t start, uintptr_t end)
{
	*x = (struct pk__extents){.lo = start, .hi = end};
	return pk__vma_walk(start, end, collect, x) < 0 ? -1 : 0;
}

int pk__extents_whole(const struct pk__extents *x)
{
	return x->n == 1 && !x->overflow && x->at[0].start == x->lo &&
	       x->at[0].end == x->hi;
}

/* Forget the parts of [x->lo, x->hi) that x does not cover. */
static void forget_gaps(const struct pk__extents *x)
{
	uintptr_t at = x->lo;

	if (x->overflow)
		return; /* not known whole: forget nothing */
	for (int i = 0; i < x->n; i++) {
		if (x->at[i].start > at)
			pk__reg_unmapped(at, x->at[i].start);
		if (x->at[i].end > at)
			at = x->at[i].end;
	}
	if (at < x->hi)
		pk__reg_unmapped(at, x->hi);
}

/* Move the registry's view of [start,end) of the source to the target. */
static void moved(uintptr_t start, uintptr_t end, uintptr_t old,
		  uintptr_t target)
{
	pk__reg_move(start, end - start, target + (start - old), end - start,
		     0);
}

void pk__remap_settle(const struct pk__extents *before, uintptr_t target,
		      size_t newlen)
{
	struct pk__extents after, t;
	uintptr_t old = before->lo;

	if (pk__extents_read(&after, before->lo, before->hi) == 0 &&
	    !after.overflow) {
		/* Each part mapped before and gone now went to the target. */
		for (int i = 0; i < before->n; i++) {
			uintptr_t at = before->at[i].start,
				  end = before->at[i].end;

			for (int j = 0; j < after.n && at < end; j++) {
				if (after.at[j].end <= at)
					continue;
				if (after.at[j].start >= end)
					break;
				if (after.at[j].start > at)
					moved(at, after.at[j].start, old, target);
				at = after.at[j].end;
			}
			if (at < end)
				moved(at, end, old, target);
		}
		forget_gaps(&after);
	}
	if (pk__extents_read(&t, target, target + newlen) == 0)
		forget_gaps(&t);
}

void pk__persists_read(struct pk__persists *ps, uintptr_t start,
		       uintptr_t end)
{
	ps->n = 0;
	if (!__atomic_load_n(&pk__reg_persist_n, __ATOMIC_RELAXED))
		return;
	for (struct pk__range *r = pk__reg_lower(start);
	     r && r->start < end && ps->n < PK__EXTENTS_MAX; r = r->next[0]) {
		if (!(r->flags & PK__R_PERSIST))
			continue;
		ps->at[ps->n].start = r->start > start ? r->start : start;
		ps->at[ps->n].end = r->end < end ? r->end : end;
		ps->at[ps->n].key = r->key;
		ps->n++;
	}
}

/*
 * Each part keeps its pages' protections and takes the key, whatever
 * key the pages moved in with (no authority check: the program chose
 * the place).  A part the kernel refuses to change (the limit on
 * mappings) keeps the key it moved in with, and the assignment there
 * ends.  Beyond PK__EXTENTS_MAX parts in one target, the rest end too.
 */
void pk__persists_apply(const struct pk__backend *b,
			const struct pk__persists *ps)
{
	for (int i = 0; i < ps->n; i++) {
		struct pk__change c = {ps->at[i].start, ps->at[i].end, 0,
				       ps->at[i].key,
				       PK__C_PERSIST | PK__C_UNMAPPED_OK};

		pk__change(b, &c);
	}
}
