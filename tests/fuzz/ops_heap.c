/* SPDX-License-Identifier: MIT */
/*
 * The fuzzer's calls on a pk_heap (pk_heap_create(3)): at most one heap
 * at a time, on a key of the episode.  Blocks are filled where the
 * thread's rights let it write, and their bytes are checked where they
 * let it read, before every free and after every realloc.  Any report
 * of the heap is a divergence: the driver never passes bad input.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pkeys.h>
#include <pkeys/heap.h>

#include "internal.h"

#define m pkf_m
#define pick pkf_pick
#define note pkf_note
#define diverged pkf_diverged

enum { BLOCKS = 24 };

static struct pk_heap *heap;
static struct {
	unsigned char *p;
	size_t n;
	int fill; /* the byte every byte holds, -1 when not written */
} blk[BLOCKS];
static int nblk;
static char report[240];

static void on_report(void *arg, const char *msg)
{
	(void)arg;
	snprintf(report, sizeof(report), "%s", msg);
}

static int readable(void)
{
	return !(m.rights[m.heap_key] & PK_DISABLE_ACCESS);
}

static int writable(void)
{
	return m.rights[m.heap_key] == 0;
}

static int check_block(int i, size_t n)
{
	if (blk[i].fill < 0 || !readable())
		return 0;
	for (size_t j = 0; j < n; j++)
		if (blk[i].p[j] != blk[i].fill)
			return diverged("heap block %p byte %zu is %#x, not %#x",
					(void *)blk[i].p, j, blk[i].p[j],
					blk[i].fill);
	return 0;
}

static void fill_block(int i)
{
	blk[i].fill = -1;
	if (!writable())
		return;
	blk[i].fill = 1 + (int)pick(255);
	memset(blk[i].p, blk[i].fill, blk[i].n);
}

static size_t pick_size(void)
{
	return 1 + pick(pick(4) ? 2048 : 3 * (unsigned)pkf_pg);
}

static int create(void)
{
	/* Room for every block at its largest, whatever the page size. */
	struct pk_heap_options o = {.reserve = 16 * BLOCKS * pkf_pg,
				    /* The defaults, or without guard pages,
				     * canaries, or both. */
				    .flags = pick(2) * PK_HEAP_NO_GUARD_PAGES |
					     pick(2) * PK_HEAP_NO_CANARIES,
				    .report = on_report};
	int k = pick(8) ? 0 : (int)(1 + pick(PKF_KEYS - 1)), rc, exp;

	/* Mostly an allocated key; else 0 or any number. */
	if (pick(6) && m.nkeys) {
		unsigned i = pick((unsigned)m.nkeys);

		for (int j = 1; j < PKF_KEYS; j++)
			if (m.allocated[j] && i-- == 0)
				k = j;
	}
	exp = pkm_key_valid(&m, k) ? 0 : -EINVAL;
	note("pk_heap_create(%d, flags %#x)", k, o.flags);
	rc = pk_heap_create(k, &o, &heap);
	pkf_st->calls++;
	if (rc != exp)
		return diverged("returned %d, the model %d", rc, exp);
	if (!rc)
		m.heap_key = k;
	return 0;
}

int pkf_heap_teardown(void)
{
	int rc;

	if (!heap)
		return 0;
	note("pk_heap_destroy(%d blocks live)", nblk);
	rc = pk_heap_destroy(heap, PK_HEAP_DESTROY_LIVE);
	pkf_st->calls++;
	heap = NULL;
	nblk = 0;
	m.heap_key = -1;
	if (rc)
		return diverged("pk_heap_destroy = %d", rc);
	return report[0] ? diverged("heap report: %s", report) : 0;
}

int pkf_heap_call(void)
{
	int i = nblk ? (int)pick((unsigned)nblk) : 0, rc = 0;
	size_t n;
	void *p;

	if (!heap)
		return create();
	switch (pick(8)) {
	case 0:
		return pkf_heap_teardown();
	case 1:
	case 2:
	case 3:
		if (nblk == BLOCKS)
			return 0;
		n = pick_size();
		note("pk_heap_alloc(%zu)", n);
		if ((rc = pk_heap_alloc(heap, n, &p)))
			break;
		blk[nblk].p = p;
		blk[nblk].n = n;
		fill_block(nblk++);
		if (pk_heap_usable_size(heap, p) < (ssize_t)n)
			return diverged("usable size %zd < %zu",
					pk_heap_usable_size(heap, p), n);
		break;
	case 4:
	case 5:
		if (!nblk)
			return 0;
		if (check_block(i, blk[i].n))
			return 1;
		note("pk_heap_free(%p)", (void *)blk[i].p);
		rc = pk_heap_free(heap, blk[i].p);
		blk[i] = blk[--nblk];
		break;
	default:
		if (!nblk)
			return 0;
		n = pick_size();
		p = blk[i].p;
		note("pk_heap_realloc(%p, %zu -> %zu)", p, blk[i].n, n);
		if ((rc = pk_heap_realloc(heap, &p, n)))
			break;
		blk[i].p = p;
		if (check_block(i, n < blk[i].n ? n : blk[i].n))
			return 1;
		blk[i].n = n;
		fill_block(i);
	}
	pkf_st->calls++;
	if (rc)
		return diverged("returned %d", rc);
	return report[0] ? diverged("heap report: %s", report) : 0;
}
