/* SPDX-License-Identifier: MIT */
/*
 * pk_heap's pages: the pool of free pages below top, the flush sentinel,
 * slabs of one size class, and allocating and freeing blocks in them.
 * Every function runs with the heap's lock held.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "heap_flush.h"
#include "heap_internal.h"

static int pool_bit(const struct pk_heap *h, size_t pg)
{
	return (int)((h->pool[pg / 64] >> (pg % 64)) & 1);
}

/* The first run of n free pages below top, or NONE. */
static size_t pool_find(const struct pk_heap *h, size_t n)
{
	size_t start = 0, len = 0;

	for (size_t i = h->pool_hint * 64; i < h->top;) {
		unsigned b = i % 64;
		uint64_t w = h->pool[i / 64] >> b;
		size_t k;

		if (w == 0) {
			i += 64 - b;
			len = 0;
			continue;
		}
		if (!(w & 1)) {
			i += (size_t)__builtin_ctzll(w);
			len = 0;
			continue;
		}
		/* Bits above 63 - b were shifted in as zeros: ~w is not 0. */
		k = ~w ? (size_t)__builtin_ctzll(~w) : 64;
		if (len == 0)
			start = i;
		len += k;
		i += k;
		if (len >= n)
			return start;
	}
	return NONE;
}

/*
 * Keep the sentinel page mapped (by reading it) while the heap's pages
 * span more than a few and fewer than the kernel's page-by-page limit:
 * below, invalidating them one by one is as cheap; above, the kernel
 * flushes everything anyway and the sentinel only adds its own entry.
 * The gaps between the bounds keep a heap that hovers around one from
 * mapping and dropping it over and over.  Best effort: without it key
 * changes cost more, nothing else.
 */
static void sentinel_update(struct pk_heap *h)
{
	char *at = page_addr(h, h->npages + HEAP_SENTINEL_GAP);
	int saved;

	if (h->sentinel == 0 && h->top >= HEAP_SENTINEL_FROM &&
	    h->top <= HEAP_SENTINEL_GAP) {
		if (!pk__heap_sentinel_pays()) {
			h->sentinel = -1;
			return;
		}
		if (pk__heap_open_key(h, &saved) != 0)
			return;
		(void)*(volatile const char *)at;
		pk__heap_close_key_locked(h, saved);
		h->sentinel = 1;
	} else if (h->sentinel == 1 && (h->top < HEAP_SENTINEL_FROM / 2 ||
					h->top > HEAP_SENTINEL_DROP)) {
		if (madvise(at, h->page, MADV_DONTNEED) == 0)
			h->sentinel = 0;
	}
}

static size_t pool_take(struct pk_heap *h, size_t n)
{
	size_t pg = pool_find(h, n);

	if (pg != NONE) {
		for (size_t i = pg; i < pg + n; i++)
			h->pool[i / 64] &= ~(1ull << (i % 64));
	} else {
		/* No free page at all below top: later searches start there. */
		if (n == 1)
			h->pool_hint = h->top / 64;
		if (n > h->npages - h->top)
			return NONE;
		pg = h->top;
		h->top += n;
		if (h->top > h->high)
			h->high = h->top;
		sentinel_update(h);
	}
	/* An estimate: pages taken may have been released already. */
	h->idle -= n < h->idle ? n : h->idle;
	h->used_pages += n;
	return pg;
}

/*
 * Give the memory of every free page back to the kernel: the runs in
 * the pool, and the pages above top that were in use since the last
 * release.  They read as zero afterwards, as they did before.
 */
static void pool_release(struct pk_heap *h)
{
	size_t start = 0, len = 0;

	for (size_t i = 0; i <= h->top; i++) {
		if (i < h->top && pool_bit(h, i)) {
			if (len++ == 0)
				start = i;
			continue;
		}
		if (len)
			madvise(page_addr(h, start), len << h->shift,
				MADV_DONTNEED);
		len = 0;
	}
	if (h->high > h->top)
		madvise(page_addr(h, h->top), (h->high - h->top) << h->shift,
			MADV_DONTNEED);
	h->high = h->top;
	h->idle = 0;
}

/*
 * Pages [pg, pg+n) hold nothing any more and are zero.  They stay
 * resident, so that a heap which frees and allocates in turn does not
 * pay a system call and page faults each time; once the free pages
 * outnumber both 64 and the pages in use, all go back to the kernel
 * (unless locked: locked pages stay).
 */
static void pool_give(struct pk_heap *h, size_t pg, size_t n)
{
	for (size_t i = pg; i < pg + n; i++)
		h->pool[i / 64] |= 1ull << (i % 64);
	h->used_pages -= n;
	h->idle += n;
	if (pg / 64 < h->pool_hint)
		h->pool_hint = pg / 64;
	while (h->top > 0 && pool_bit(h, h->top - 1)) {
		h->top--;
		h->pool[h->top / 64] &= ~(1ull << (h->top % 64));
	}
	sentinel_update(h);
	if (!(h->flags & PK_HEAP_MLOCK) && h->idle > 64 &&
	    h->idle > h->used_pages)
		pool_release(h);
}

/* Slabs -------------------------------------------------------------- */

static void slab_link(struct pk_heap *h, size_t pg)
{
	struct page *d = &h->pages[pg];

	d->prev = NONE;
	d->next = h->partial[d->cls];
	if (d->next != NONE)
		h->pages[d->next].prev = (uint32_t)pg;
	h->partial[d->cls] = (uint32_t)pg;
}

static void slab_unlink(struct pk_heap *h, size_t pg)
{
	struct page *d = &h->pages[pg];

	if (d->prev != NONE)
		h->pages[d->prev].next = d->next;
	else
		h->partial[d->cls] = d->next;
	if (d->next != NONE)
		h->pages[d->next].prev = d->prev;
}

/* A new slab for class c, with free slots; needs the key with canaries. */
static int slab_new(struct pk_heap *h, unsigned c)
{
	size_t pg = pool_take(h, 1);
	uint64_t *bits;
	unsigned n = h->nslots[c];
	int saved, rc;

	if (pg == NONE)
		return -ENOMEM;
	if (h->flags & PK_HEAP_CANARIES) {
		if ((rc = pk__heap_open_key(h, &saved)) != 0) {
			pool_give(h, pg, 1);
			return rc;
		}
		for (unsigned i = 0; i < n; i++)
			pk__heap_canary_write(
				h, page_addr(h, pg) + i * h->slot[c] +
					   pk__heap_class_size[c]);
		pk__heap_close_key_locked(h, saved);
	}
	h->pages[pg] = (struct page){.kind = P_SLAB, .cls = (uint8_t)c};
	bits = slot_bits(h, pg);
	/* Bits past the last slot are set: never found free. */
	for (unsigned w = 0; w < h->words; w++) {
		unsigned lo = w * 64;
		bits[w] = n >= lo + 64 ? 0
			  : n <= lo    ? ~0ull
				       : ~0ull << (n - lo);
	}
	slab_link(h, pg);
	return 0;
}

/* Allocation --------------------------------------------------------- */

static int alloc_small(struct pk_heap *h, size_t size, void **out)
{
	unsigned c = pk__heap_class_of[(size + 15) / 16];
	uint64_t *bits;
	struct page *d;
	int rc;

	if (h->partial[c] == NONE && (rc = slab_new(h, c)) != 0)
		return rc;
	d = &h->pages[h->partial[c]];
	bits = slot_bits(h, h->partial[c]);
	for (unsigned w = 0;; w++) {
		if (~bits[w] == 0)
			continue;
		unsigned i = (unsigned)__builtin_ctzll(~bits[w]);
		bits[w] |= 1ull << i;
		*out = page_addr(h, h->partial[c]) + (w * 64 + i) * h->slot[c];
		break;
	}
	if (++d->used == h->nslots[c])
		slab_unlink(h, h->partial[c]);
	h->blocks++;
	h->bytes += pk__heap_class_size[c];
	return 0;
}

static int alloc_large(struct pk_heap *h, size_t size, void **out)
{
	size_t extra = (h->flags & PK_HEAP_CANARIES) ? CANARY : 0;
	size_t n = (size + extra + h->page - 1) >> h->shift, pg;
	int saved, rc;

	pg = pool_take(h, n);
	if (pg == NONE)
		return -ENOMEM;
	if (extra) {
		if ((rc = pk__heap_open_key(h, &saved)) != 0) {
			pool_give(h, pg, n);
			return rc;
		}
		pk__heap_canary_write(h, page_addr(h, pg + n) - CANARY);
		pk__heap_close_key_locked(h, saved);
	}
	h->pages[pg] = (struct page){.kind = P_LARGE, .npages = (uint32_t)n};
	for (size_t i = 1; i < n; i++)
		h->pages[pg + i].kind = P_LARGE_TAIL;
	h->blocks++;
	h->bytes += (n << h->shift) - extra;
	*out = page_addr(h, pg);
	return 0;
}

int pk__heap_alloc_locked(struct pk_heap *h, size_t size, void **out)
{
	if (size > (h->npages << h->shift))
		return -ENOMEM;
	if (size <= MAX_SMALL)
		return alloc_small(h, size, out);
	return alloc_large(h, size, out);
}

/*
 * An overflow may have run on into the free slots after the block:
 * wipe them again, up to the next live one, so free memory stays zero.
 */
static void repair_after(struct pk_heap *h, const struct block *b)
{
	const struct page *d = &h->pages[b->pg];
	const uint64_t *bits = slot_bits(h, b->pg);

	for (unsigned s = b->slot + 1; s < h->nslots[d->cls]; s++) {
		char *at = page_addr(h, b->pg) + s * h->slot[d->cls];
		if (bits[s / 64] >> (s % 64) & 1)
			break;
		explicit_bzero(at, pk__heap_class_size[d->cls]);
		pk__heap_canary_write(h, at + pk__heap_class_size[d->cls]);
	}
}

void pk__heap_free_locked(struct pk_heap *h, const struct block *b, int damaged)
{
	struct page *d = &h->pages[b->pg];
	unsigned c = d->cls;

	h->blocks--;
	h->bytes -= b->usable;
	if (b->large) {
		size_t n = d->npages;
		explicit_bzero(b->addr, n << h->shift);
		for (size_t i = 1; i < n; i++)
			h->pages[b->pg + i].kind = P_FREE;
		d->kind = P_FREED_LARGE;
		pool_give(h, b->pg, n);
		return;
	}
	explicit_bzero(b->addr, b->usable);
	if (damaged) {
		pk__heap_canary_write(h, b->addr + b->usable);
		repair_after(h, b);
	}
	slot_bits(h, b->pg)[b->slot / 64] &= ~(1ull << (b->slot % 64));
	if (d->used-- == h->nslots[c])
		slab_link(h, b->pg);
	/* An empty slab goes back to the pool unless it is the last one. */
	if (d->used == 0 && (h->partial[c] != b->pg || d->next != NONE)) {
		slab_unlink(h, b->pg);
		if (h->flags & PK_HEAP_CANARIES)
			explicit_bzero(b->addr - b->slot * h->slot[c], h->page);
		d->kind = P_FREED_SLAB;
		pool_give(h, b->pg, 1);
	}
}
