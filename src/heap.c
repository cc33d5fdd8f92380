/*
 * pk_heap: an allocator whose blocks all live in one reservation of
 * pages carrying the heap's key, and whose metadata lives elsewhere.
 *
 * Layout.  The reservation is one pk_mmap: one range in the library's
 * registry, so on the emulation a change of rights is one mprotect.  It
 * is cut into pages.  A page is free, a slab (equal slots of one size
 * class, 16 to 2048 bytes), or part of a large block (whole pages).  The
 * pages in use sit below `top`; free pages below it are in a bitmap, and
 * freeing pages at the top lowers it, so the heap stays compact.
 *
 * Metadata, in one separate mapping: per page a descriptor (16 bytes)
 * and a slot bitmap (one bit per 16 bytes of page: 32 bytes per 4 KiB
 * page).  A 32-byte secret thus costs 32 bytes of keyed memory and 3/8
 * of a byte of metadata.  The mapping is reserved for the whole heap but
 * only the part describing pages in use is ever touched.
 *
 * Zero invariant.  Every byte of the reservation outside live blocks and
 * canaries is zero: untouched pages are, and free wipes the block before
 * it can be reused.  So allocating never writes into the keyed pages and
 * needs no access window.  Writing (free, calloc, realloc, canaries,
 * destroy) opens the key for the calling thread and restores its rights.
 *
 * Flush sentinel.  Unless the heap has guard pages, the keyed range
 * goes on for HEAP_SENTINEL_GAP + 1 pages past the reservation; its last
 * page may be mapped to the zero page so that closing the key flushes
 * the TLB at once instead of page by page, where that is cheaper
 * (src/heap_flush.c).
 *
 * One mutex per heap guards all metadata.  Opening the key may take the
 * library's lock (emulation); the library never calls back into a heap,
 * so that order cannot deadlock.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <pkeys/heap.h>

#include "heap_flush.h"

#define NONE UINT32_MAX
#define CANARY 16u
#define MAX_SMALL 2048u
#define NCLASS 22
#define KNOWN_FLAGS                                                        \
	(PK_HEAP_MLOCK | PK_HEAP_GUARD_PAGES | PK_HEAP_CANARIES | PK_HEAP_ABORT)

/* Sizes are multiples of 16, so every slot is 16-byte aligned. */
static const uint16_t class_size[NCLASS] = {
	16,  32,  48,  64,  80,  96,  112, 128, 160,  192,  224,
	256, 320, 384, 448, 512, 640, 768, 896, 1024, 1360, 2048,
};
/* class_of[(size + 15) / 16]: the smallest class that holds size. */
static uint8_t class_of[MAX_SMALL / 16 + 1];
static pthread_once_t classes_once = PTHREAD_ONCE_INIT;

enum page_kind {
	P_FREE = 0,	   /* unused, in the pool or above top */
	P_FREED_LARGE = 1, /* in the pool; was the head of a large block */
	P_SLAB = 2,
	P_LARGE = 3,	   /* the first page of a large block */
	P_LARGE_TAIL = 4,
};

struct page {
	uint8_t kind;
	uint8_t cls;
	uint16_t used;	       /* slab: live slots */
	uint32_t next, prev;   /* slab: the class's slabs with free slots */
	uint32_t npages;       /* large head (and freed head): its length */
};

struct pk_heap {
	pthread_mutex_t lock;
	int key;
	unsigned flags;
	char *base;		/* the keyed pages */
	size_t npages;		/* the reservation, in pages */
	size_t page;
	unsigned shift;		/* log2(page) */
	unsigned words;		/* slot bitmap words per page */
	char *map;		/* base, with the guard pages if any */
	size_t map_len;
	size_t meta_len;	/* this struct and the arrays below */
	struct page *pages;
	uint64_t *slots;	/* words per page: bit set = slot in use */
	uint64_t *pool;		/* bit per page below top: set = free */
	size_t top;		/* pages [0, top) have been used */
	size_t high;		/* top's highest value since the last release */
	size_t idle;		/* about how many free pages are resident */
	size_t pool_hint;	/* no pool bit below word pool_hint */
	int sentinel;		/* 1 mapped, -1 not wanted, 0 not decided */
	uint32_t partial[NCLASS];
	uint16_t slot[NCLASS];	/* slot size: class size + canary */
	uint16_t nslots[NCLASS];
	size_t blocks, bytes, used_pages;
	uint64_t secret[2];	/* canaries derive from it */
	void (*report)(void *, const char *);
	void *report_arg;
};

/* What a pointer turned out to be. */
struct block {
	size_t pg;
	unsigned slot;		/* slab slot, or 0 */
	int large;
	size_t usable;
	char *addr;
};

static void classes_init(void)
{
	unsigned c = 0;

	for (unsigned i = 1; i <= MAX_SMALL / 16; i++) {
		while (class_size[c] < i * 16)
			c++;
		class_of[i] = (uint8_t)c;
	}
}

/* Reports: formatted under the lock, delivered after it is dropped. */
struct msg {
	char text[320];
	int set;
};

static void note(struct msg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(m->text, sizeof(m->text), "pk_heap: ");

	va_start(ap, fmt);
	vsnprintf(m->text + n, sizeof(m->text) - (size_t)n, fmt, ap);
	va_end(ap);
	m->set = 1;
}

/* bad_input: the program misused the heap (PK_HEAP_ABORT applies). */
static void deliver(const struct pk_heap *h, const struct msg *m,
		    int bad_input)
{
	if (!m->set)
		return;
	if (h->report)
		h->report(h->report_arg, m->text);
	else
		fprintf(stderr, "%s\n", m->text);
	if (bad_input && (h->flags & PK_HEAP_ABORT))
		abort();
}

/*
 * Give the calling thread write access to the key for a call, keeping
 * in *saved what to restore.  No system call when it already has it.
 */
static int open_key(const struct pk_heap *h, int *saved)
{
	int r = pk_get(h->key);

	if (r < 0)
		return r;
	*saved = r;
	return r == 0 ? 0 : pk_set(h->key, 0);
}

static void close_key(const struct pk_heap *h, int saved)
{
	struct msg m = {0};

	if (saved == 0 || pk_set(h->key, (unsigned)saved) == 0)
		return;
	/* Narrowing can fail on the emulation (mprotect); never silently. */
	note(&m, "heap %p: could not restore this thread's rights %d for key "
		 "%d: they stay open", (const void *)h, saved, h->key);
	deliver(h, &m, 0);
}

/*
 * Canaries depend on the heap's secret and on their address, so one
 * copied from elsewhere does not fit.  Every byte is non-zero, so that
 * an off-by-one NUL is caught too.
 */
static void canary_of(const struct pk_heap *h, const char *at, uint64_t c[2])
{
	uint64_t a = (uint64_t)(uintptr_t)at;

	c[0] = (h->secret[0] ^ a) | 0x0101010101010101u;
	c[1] = (h->secret[1] ^ (a * 0x9e3779b97f4a7c15u)) |
	       0x0101010101010101u;
}

static void canary_write(const struct pk_heap *h, char *at)
{
	uint64_t c[2];

	canary_of(h, at, c);
	memcpy(at, c, CANARY);
}

/* The first damaged canary byte at `at`, or -1. */
static int canary_check(const struct pk_heap *h, const char *at)
{
	uint64_t c[2];
	const unsigned char *want = (const unsigned char *)c;

	canary_of(h, at, c);
	for (int i = 0; i < (int)CANARY; i++)
		if ((unsigned char)at[i] != want[i])
			return i;
	return -1;
}

/* Pool of pages ------------------------------------------------------ */

static uint64_t *slot_bits(const struct pk_heap *h, size_t pg)
{
	return h->slots + pg * h->words;
}

static char *page_addr(const struct pk_heap *h, size_t pg)
{
	return h->base + (pg << h->shift);
}

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
		if (open_key(h, &saved) != 0)
			return;
		(void)*(volatile const char *)at;
		close_key(h, saved);
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
		if ((rc = open_key(h, &saved)) != 0) {
			pool_give(h, pg, 1);
			return rc;
		}
		for (unsigned i = 0; i < n; i++)
			canary_write(h, page_addr(h, pg) + i * h->slot[c] +
						class_size[c]);
		close_key(h, saved);
	}
	h->pages[pg] = (struct page){.kind = P_SLAB, .cls = (uint8_t)c};
	bits = slot_bits(h, pg);
	/* Bits past the last slot are set: never found free. */
	for (unsigned w = 0; w < h->words; w++) {
		unsigned lo = w * 64;
		bits[w] = n >= lo + 64 ? 0 : n <= lo ? ~0ull : ~0ull << (n - lo);
	}
	slab_link(h, pg);
	return 0;
}

/* Allocation --------------------------------------------------------- */

static int alloc_small(struct pk_heap *h, size_t size, void **out)
{
	unsigned c = class_of[(size + 15) / 16];
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
	h->bytes += class_size[c];
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
		if ((rc = open_key(h, &saved)) != 0) {
			pool_give(h, pg, n);
			return rc;
		}
		canary_write(h, page_addr(h, pg + n) - CANARY);
		close_key(h, saved);
	}
	h->pages[pg] = (struct page){.kind = P_LARGE, .npages = (uint32_t)n};
	for (size_t i = 1; i < n; i++)
		h->pages[pg + i].kind = P_LARGE_TAIL;
	h->blocks++;
	h->bytes += (n << h->shift) - extra;
	*out = page_addr(h, pg);
	return 0;
}

static int alloc_locked(struct pk_heap *h, size_t size, void **out)
{
	if (size > (h->npages << h->shift))
		return -ENOMEM;
	if (size <= MAX_SMALL)
		return alloc_small(h, size, out);
	return alloc_large(h, size, out);
}

/* Lookup and free ---------------------------------------------------- */

static int inside(const struct pk_heap *h, const void *p)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)h->base;

	return a >= b && a - b < (h->npages << h->shift);
}

/*
 * What p is; 0 for a live block, else -EINVAL or -EALREADY with why
 * filled in.  Lock held.
 */
static int lookup(const struct pk_heap *h, const void *p, struct block *b,
		  const char **why)
{
	size_t off, in;
	const struct page *d;

	if (!inside(h, p)) {
		*why = "outside its memory";
		return -EINVAL;
	}
	off = (size_t)((const char *)p - h->base);
	b->pg = off >> h->shift;
	b->addr = (char *)p;
	in = off & (h->page - 1);
	d = &h->pages[b->pg];
	switch (d->kind) {
	case P_SLAB:
		b->large = 0;
		b->slot = (unsigned)(in / h->slot[d->cls]);
		b->usable = class_size[d->cls];
		if (in % h->slot[d->cls] || b->slot >= h->nslots[d->cls]) {
			*why = "not the start of a block";
			return -EINVAL;
		}
		if (!(slot_bits(h, b->pg)[b->slot / 64] >> (b->slot % 64) & 1)) {
			*why = "already free (double free?)";
			return -EALREADY;
		}
		return 0;
	case P_LARGE:
	case P_FREED_LARGE:
		b->large = 1;
		b->slot = 0;
		b->usable = ((size_t)d->npages << h->shift) -
			    (h->flags & PK_HEAP_CANARIES ? CANARY : 0);
		if (in) {
			*why = "not the start of a block";
			return -EINVAL;
		}
		if (d->kind == P_FREED_LARGE) {
			*why = "already free (double free?)";
			return -EALREADY;
		}
		return 0;
	case P_LARGE_TAIL:
		*why = "not the start of a block";
		return -EINVAL;
	default:
		*why = "in pages the heap does not use";
		return -EINVAL;
	}
}

/* Check the canary after block b; describe damage in m.  Lock held. */
static int check_block(const struct pk_heap *h, const struct block *b,
		       const char *call, struct msg *m)
{
	const char *at = b->addr + b->usable;
	int bad;

	if (!(h->flags & PK_HEAP_CANARIES) || (bad = canary_check(h, at)) < 0)
		return 0;
	note(m, "%s(%p): overflow past the end of the block (%zu usable "
		"bytes): its canary was overwritten, first at offset %zu "
		"(0x%02x)", call, (void *)b->addr, b->usable,
	     b->usable + (size_t)bad, (unsigned char)at[bad]);
	return -EOVERFLOW;
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
		explicit_bzero(at, class_size[d->cls]);
		canary_write(h, at + class_size[d->cls]);
	}
}

/* Free live block b: the key is open for this thread.  Lock held. */
static void free_locked(struct pk_heap *h, const struct block *b, int damaged)
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
		canary_write(h, b->addr + b->usable);
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
		d->kind = P_FREE;
		pool_give(h, b->pg, 1);
	}
}

/* API ---------------------------------------------------------------- */

static int lock_limit_error(struct pk_heap *h, size_t len, int err)
{
	struct rlimit rl;
	struct msg m = {0};
	char lim[32] = "unlimited";

	if (err != EPERM && err != ENOMEM)
		return -err;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(lim, sizeof(lim), "%llu bytes",
			 (unsigned long long)rl.rlim_cur);
	note(&m, "PK_HEAP_MLOCK: cannot lock the heap's %zu bytes: "
		 "RLIMIT_MEMLOCK is %s (ulimit -l, in KiB); raise it, or "
		 "reserve less (options.reserve)", len, lim);
	deliver(h, &m, 0);
	return -EPERM;
}

static void fill_secret(uint64_t s[2])
{
	struct timespec ts;

	if (getrandom(s, 2 * sizeof(s[0]), GRND_NONBLOCK) ==
	    (ssize_t)(2 * sizeof(s[0])))
		return;
	/* No entropy yet (early boot): still differs per heap and run. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uintptr_t)s;
	s[1] = ((uint64_t)ts.tv_sec << 32 | (uint64_t)getpid()) ^ s[0] << 7;
}

/* Map the reservation: guard pages first (no key), keyed pages inside. */
static int map_heap(struct pk_heap *h)
{
	size_t guard = (h->flags & PK_HEAP_GUARD_PAGES) ? h->page : 0;
	size_t len = h->npages << h->shift;
	void *p = NULL;
	int rc;

	/*
	 * The sentinel must change protection with the blocks, so the keyed
	 * pages between them would be open with the key: it would undo the
	 * trailing guard page.  Guarded heaps go without it.
	 */
	h->sentinel = guard ? -1 : 0;
	if (!guard)
		len += (HEAP_SENTINEL_GAP + 1) << h->shift;

	h->map_len = len + 2 * guard;
	if (guard) {
		h->map = mmap(NULL, h->map_len, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (h->map == MAP_FAILED)
			return -ENOMEM;
		p = h->map + guard;
	}
	rc = pk_mmap(&p, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_NORESERVE | (guard ? MAP_FIXED : 0),
		     h->key);
	if (rc) {
		if (guard)
			munmap(h->map, h->map_len);
		return rc;
	}
	h->base = p;
	if (!guard)
		h->map = p;
	/* Secrets stay out of core dumps. */
	if (madvise(h->base, len, MADV_DONTDUMP))
		rc = -errno;
	else if ((h->flags & PK_HEAP_MLOCK) &&
		 mlock2(h->base, h->npages << h->shift, MLOCK_ONFAULT))
		rc = lock_limit_error(h, h->npages << h->shift, errno);
	if (rc)
		pk_munmap(h->map, h->map_len);
	return rc;
}

int pk_heap_create(int key, const struct pk_heap_options *options,
		   struct pk_heap **heap)
{
	struct pk_heap_options o = {0};
	size_t page = (size_t)sysconf(_SC_PAGESIZE), npages, words, len;
	struct pk_heap *h;
	char *meta;
	int rc;

	if (options)
		o = *options;
	if (!heap || key <= 0 || pk_get(key) < 0 || (o.flags & ~KNOWN_FLAGS) ||
	    page < 4096 || (page & (page - 1)))
		return -EINVAL;
	if (o.reserve == 0)
		o.reserve = PK_HEAP_DEFAULT_RESERVE;
	npages = o.reserve / page + (o.reserve % page != 0);
	if (npages >= NONE)
		return -EINVAL;
	pthread_once(&classes_once, classes_init);

	/* The struct, the pool bitmap, the descriptors, the slot bitmaps. */
	words = page / 16 / 64;
	len = sizeof(*h) + (npages + 63) / 64 * 8 +
	      npages * (sizeof(struct page) + words * 8);
	meta = mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (meta == MAP_FAILED)
		return -ENOMEM;
	h = (struct pk_heap *)meta;
	h->key = key;
	h->flags = o.flags;
	h->npages = npages;
	h->page = page;
	h->shift = (unsigned)__builtin_ctzll(page);
	h->words = (unsigned)words;
	h->meta_len = len;
	h->pool = (uint64_t *)(meta + sizeof(*h));
	h->pages = (struct page *)(h->pool + (npages + 63) / 64);
	h->slots = (uint64_t *)(h->pages + npages);
	h->report = o.report;
	h->report_arg = o.report_arg;
	for (unsigned c = 0; c < NCLASS; c++) {
		h->partial[c] = NONE;
		h->slot[c] = (uint16_t)(class_size[c] +
					(o.flags & PK_HEAP_CANARIES ? CANARY : 0));
		h->nslots[c] = (uint16_t)(page / h->slot[c]);
	}
	fill_secret(h->secret);
	if ((rc = -pthread_mutex_init(&h->lock, NULL)) != 0) {
		munmap(meta, len);
		return rc;
	}
	if ((rc = map_heap(h)) != 0) {
		pthread_mutex_destroy(&h->lock);
		munmap(meta, len);
		return rc;
	}
	*heap = h;
	return 0;
}

int pk_heap_destroy(struct pk_heap *h, unsigned flags)
{
	struct msg m = {0};
	int saved = 0, rc = 0;

	if (!h || (flags & ~PK_HEAP_DESTROY_LIVE))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (h->blocks && !(flags & PK_HEAP_DESTROY_LIVE)) {
		note(&m, "pk_heap_destroy(%p): %zu blocks (%zu bytes) are still "
			 "allocated: free them, or pass PK_HEAP_DESTROY_LIVE",
		     (void *)h, h->blocks, h->bytes);
		rc = -EBUSY;
	} else if (h->blocks && (rc = open_key(h, &saved)) == 0) {
		/* Live secrets are wiped before their pages go back. */
		for (size_t pg = 0; pg < h->top; pg++)
			if (h->pages[pg].kind >= P_SLAB)
				explicit_bzero(page_addr(h, pg), h->page);
		close_key(h, saved);
	}
	pthread_mutex_unlock(&h->lock);
	if (rc) {
		deliver(h, &m, 1);
		return rc;
	}
	pk_munmap(h->map, h->map_len);
	pthread_mutex_destroy(&h->lock);
	munmap(h, h->meta_len);
	return 0;
}

int pk_heap_alloc(struct pk_heap *h, size_t size, void **out)
{
	int rc;

	if (!h || !out || size == 0)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	rc = alloc_locked(h, size, out);
	pthread_mutex_unlock(&h->lock);
	return rc;
}

int pk_heap_calloc(struct pk_heap *h, size_t n, size_t size, void **out)
{
	size_t total;
	void *p;
	int saved, rc;

	if (!h || !out || n == 0 || size == 0)
		return -EINVAL;
	if (__builtin_mul_overflow(n, size, &total))
		return -EOVERFLOW;
	if ((rc = open_key(h, &saved)) != 0)
		return rc;
	pthread_mutex_lock(&h->lock);
	rc = alloc_locked(h, total, &p);
	pthread_mutex_unlock(&h->lock);
	/* The block is the caller's now: no lock needed to write it. */
	if (rc == 0) {
		memset(p, 0, total);
		*out = p;
	}
	close_key(h, saved);
	return rc;
}

/* A block's shape: its slab class, or NCLASS + its pages when large. */
static size_t shape_of(const struct pk_heap *h, size_t size)
{
	size_t extra = (h->flags & PK_HEAP_CANARIES) ? CANARY : 0;

	if (size <= MAX_SMALL)
		return class_of[(size + 15) / 16];
	return NCLASS + ((size + extra + h->page - 1) >> h->shift);
}

static size_t shape_of_block(const struct pk_heap *h, const struct block *b)
{
	return b->large ? NCLASS + h->pages[b->pg].npages
			: h->pages[b->pg].cls;
}

static int bad_pointer(struct pk_heap *h, const char *call, const void *p,
		       int rc, const char *why)
{
	struct msg m = {0};

	if (rc == -EALREADY)
		note(&m, "%s(%p): block %s", call, p, why);
	else
		note(&m, "%s(%p): not a block of heap %p: %s", call, p,
		     (void *)h, why);
	deliver(h, &m, 1);
	return rc;
}

int pk_heap_free(struct pk_heap *h, void *p)
{
	struct block b;
	struct msg m = {0};
	const char *why = NULL;
	int saved, rc, damaged;

	if (!h)
		return -EINVAL;
	if (!p)
		return 0;
	/* Outside the heap: no need to open the key to say so. */
	if (!inside(h, p))
		return bad_pointer(h, "pk_heap_free", p, -EINVAL,
				   "outside its memory");
	if ((rc = open_key(h, &saved)) != 0)
		return rc;
	pthread_mutex_lock(&h->lock);
	rc = lookup(h, p, &b, &why);
	if (rc == 0) {
		damaged = check_block(h, &b, "pk_heap_free", &m);
		free_locked(h, &b, damaged);
		rc = damaged;
	}
	pthread_mutex_unlock(&h->lock);
	close_key(h, saved);
	if (why)
		return bad_pointer(h, "pk_heap_free", p, rc, why);
	deliver(h, &m, 1);
	return rc;
}

int pk_heap_realloc(struct pk_heap *h, void **p, size_t size)
{
	struct block b;
	struct msg m = {0};
	const char *why = NULL;
	void *q = NULL;
	int saved, rc;

	if (!h || !p || size == 0)
		return -EINVAL;
	if (!*p)
		return pk_heap_alloc(h, size, p);
	if (!inside(h, *p))
		return bad_pointer(h, "pk_heap_realloc", *p, -EINVAL,
				   "outside its memory");
	if ((rc = open_key(h, &saved)) != 0)
		return rc;
	pthread_mutex_lock(&h->lock);
	if ((rc = lookup(h, *p, &b, &why)) == 0 &&
	    (rc = check_block(h, &b, "pk_heap_realloc", &m)) == 0 &&
	    shape_of(h, size) != shape_of_block(h, &b) &&
	    (rc = alloc_locked(h, size, &q)) == 0) {
		memcpy(q, b.addr, size < b.usable ? size : b.usable);
		free_locked(h, &b, 0);
	}
	pthread_mutex_unlock(&h->lock);
	close_key(h, saved);
	if (why)
		return bad_pointer(h, "pk_heap_realloc", *p, rc, why);
	if (rc == -EOVERFLOW)
		deliver(h, &m, 1);
	if (rc == 0 && q)
		*p = q;
	return rc;
}

ssize_t pk_heap_usable_size(struct pk_heap *h, const void *p)
{
	struct block b;
	const char *why;
	int rc;

	if (!h || !p)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	rc = lookup(h, p, &b, &why);
	pthread_mutex_unlock(&h->lock);
	return rc ? rc : (ssize_t)b.usable;
}

int pk_heap_usage(struct pk_heap *h, struct pk_heap_usage *out)
{
	if (!h || !out)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	*out = (struct pk_heap_usage){
		.blocks = h->blocks,
		.bytes = h->bytes,
		.pages = h->used_pages,
		.committed = h->top << h->shift,
		.reserved = h->npages << h->shift,
		.metadata = sizeof(*h) + (h->top + 63) / 64 * 8 +
			    h->top * (sizeof(struct page) + h->words * 8),
		.base = h->base,
		.key = h->key,
		.flags = h->flags,
	};
	pthread_mutex_unlock(&h->lock);
	return 0;
}
