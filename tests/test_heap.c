/* SPDX-License-Identifier: MIT */
/*
 * pk_heap: blocks unreachable while the key is closed and reachable when
 * it is open, wiping, usage counters, a random model, threads, bad input,
 * canaries, guard pages, dump and lock flags, and the cost of a key
 * change on the emulation.  Every test runs on both backends.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pkeys/heap.h>

#include "pktest.h"

void pk__test_fail_protect(int nth, int err);

/* Reports sent to options.report. */
struct reports {
	int n;
	char last[512];
};

static void on_report(void *arg, const char *msg)
{
	struct reports *r = arg;

	r->n++;
	snprintf(r->last, sizeof(r->last), "%s", msg);
}

/*
 * A heap with exactly the protections flags names: guard pages and
 * canaries only when asked for (they are on by default; the test of the
 * defaults is heap_secure_defaults).
 */
static struct pk_heap *heap_new(int key, unsigned flags, size_t reserve,
				struct reports *r)
{
	struct pk_heap_options o = {.reserve = reserve, .flags = flags};

	if (!(flags & PK_HEAP_GUARD_PAGES))
		o.flags |= PK_HEAP_NO_GUARD_PAGES;
	if (!(flags & PK_HEAP_CANARIES))
		o.flags |= PK_HEAP_NO_CANARIES;
	struct pk_heap *h = NULL;

	if (r) {
		o.report = on_report;
		o.report_arg = r;
	}
	CHECK_EQ(pk_heap_create(key, &o, &h), 0);
	CHECK(h != NULL);
	return h;
}

static void *take(struct pk_heap *h, size_t size)
{
	void *p = NULL;

	CHECK_EQ(pk_heap_alloc(h, size, &p), 0);
	CHECK(p != NULL);
	return p;
}

static struct pk_heap_usage usage(struct pk_heap *h)
{
	struct pk_heap_usage u;

	CHECK_EQ(pk_heap_usage(h, &u), 0);
	return u;
}

/* Whether the n bytes at p all hold v (the caller may read them). */
static int all_bytes(const void *p, size_t n, unsigned char v)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		if (c[i] != v)
			return 0;
	return 1;
}

static uint64_t rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005u + 1442695040888963407u;
	return *s >> 33;
}

void test_heap_basic(void)
{
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct pk_heap *h = heap_new(k, 0, 0, NULL);
	struct pk_heap_usage u;
	char *p = take(h, 32);

	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_key_of(p), k);
	EXPECT_FAULT(p, R, k);
	EXPECT_FAULT(p + 31, W, k);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK(all_bytes(p, 32, 0));
	strcpy(p, "correct horse battery staple");
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	EXPECT_OK(p + 31, R);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(strcmp(p, "correct horse battery staple"), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p + 5, R, k);
	u = usage(h);
	CHECK_EQ(u.blocks, 1);
	CHECK_EQ(u.bytes, 32);
	CHECK_EQ(u.key, k);
	CHECK_EQ(u.reserved, PK_HEAP_DEFAULT_RESERVE);
	CHECK_EQ(pk_heap_free(h, p), 0);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK(all_bytes(p, 32, 0));
	CHECK_EQ(usage(h).blocks, 0);
	CHECK_EQ(pk_heap_destroy(h, 0), 0);
	/* The heap gave its pages back: no page carries the key any more. */
	CHECK_EQ(pk_key_free(k), 0);
}

static const size_t some_sizes[] = {1,	  16,	17,   32,    48,   100, 1000,
				    1360, 2048, 2049, 4096, 10000, 70000};
#define NSIZES (sizeof(some_sizes) / sizeof(some_sizes[0]))

/* Every block, small or large, is closed and opened with the key. */
void test_heap_closed_all(void)
{
	static const unsigned flag_sets[] = {0, PK_HEAP_CANARIES |
						    PK_HEAP_GUARD_PAGES};
	int k = pkt_key(0);

	for (size_t f = 0; f < 2; f++) {
		struct pk_heap *h = heap_new(k, flag_sets[f], 0, NULL);
		char *b[3 * NSIZES];
		size_t n[3 * NSIZES];

		for (size_t i = 0; i < 3 * NSIZES; i++) {
			b[i] = take(h, some_sizes[i % NSIZES]);
			n[i] = (size_t)pk_heap_usable_size(h, b[i]);
			CHECK(n[i] >= some_sizes[i % NSIZES]);
			memset(b[i], (int)(i + 1), n[i]);
		}
		CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
		for (size_t i = 0; i < 3 * NSIZES; i++) {
			EXPECT_FAULT(b[i], R, k);
			EXPECT_FAULT(b[i], W, k);
			EXPECT_FAULT(b[i] + n[i] - 1, R, k);
			EXPECT_FAULT(b[i] + n[i] - 1, W, k);
		}
		CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
		for (size_t i = 0; i < 3 * NSIZES; i++) {
			EXPECT_OK(b[i] + n[i] - 1, R);
			EXPECT_FAULT(b[i] + n[i] - 1, W, k);
		}
		CHECK_EQ(pk_set(k, 0), 0);
		for (size_t i = 0; i < 3 * NSIZES; i++) {
			CHECK(all_bytes(b[i], n[i], (unsigned char)(i + 1)));
			CHECK_EQ(pk_heap_free(h, b[i]), 0);
		}
		CHECK_EQ(pk_heap_destroy(h, 0), 0);
	}
}

/*
 * No call needs an access window: each works while the thread's key is
 * closed (or read-only), and leaves the thread's rights as they were.
 */
void test_heap_no_window(void)
{
	static const unsigned rights[] = {PK_DISABLE_ACCESS, PK_DISABLE_WRITE};
	int k = pkt_key(0);

	for (int f = 0; f < 2; f++)
		for (int r = 0; r < 2; r++) {
			struct pk_heap *h =
				heap_new(k, f ? PK_HEAP_CANARIES : 0, 0, NULL);
			unsigned want = rights[r];
			void *a, *b = NULL, *c;

			CHECK_EQ(pk_set(k, want), 0);
			a = take(h, 40);
			CHECK_EQ(pk_get(k), want);
			CHECK_EQ(pk_heap_calloc(h, 10, 10, &b), 0);
			CHECK_EQ(pk_get(k), want);
			c = take(h, 9000);
			CHECK_EQ(pk_get(k), want);
			CHECK_EQ(pk_heap_realloc(h, &a, 3000), 0);
			CHECK_EQ(pk_get(k), want);
			CHECK_EQ(pk_heap_realloc(h, &c, 100), 0);
			CHECK_EQ(pk_get(k), want);
			/* The rights are in force, not only reported. */
			EXPECT_FAULT(a, W, k);
			EXPECT_FAULT(c, W, k);
			if (want == PK_DISABLE_ACCESS)
				EXPECT_FAULT(b, R, k);
			else
				CHECK(all_bytes(b, 100, 0));
			CHECK_EQ(pk_heap_free(h, a), 0);
			CHECK_EQ(pk_heap_free(h, b), 0);
			CHECK_EQ(pk_heap_free(h, c), 0);
			CHECK_EQ(pk_get(k), want);
			CHECK_EQ(pk_heap_destroy(h, 0), 0);
			CHECK_EQ(pk_get(k), want);
			CHECK_EQ(pk_set(k, 0), 0);
		}
}

void test_heap_free_zeroes(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(0);

	/* With PK_HEAP_MLOCK freed pages stay: the wipe is what zeroes them. */
	for (int f = 0; f < 2; f++) {
		struct pk_heap *h =
			heap_new(k, f ? PK_HEAP_MLOCK : 0, 1 << 20, NULL);
		char *a = take(h, 48), *b = take(h, 48), *c, *d, *old;

		memset(a, 0xaa, 48);
		memset(b, 0xbb, 48);
		CHECK_EQ(pk_heap_free(h, a), 0);
		CHECK(all_bytes(a, 48, 0));
		CHECK(all_bytes(b, 48, 0xbb));

		c = take(h, 3 * pg);
		memset(c, 0xcc, 3 * pg);
		CHECK_EQ(pk_heap_free(h, c), 0);
		CHECK(all_bytes(c, 3 * pg, 0));

		d = old = take(h, 64);
		memset(d, 0xdd, 64);
		CHECK_EQ(pk_heap_realloc(h, (void **)&d, 500), 0);
		CHECK(d != old);
		CHECK(all_bytes(old, 64, 0));
		CHECK(all_bytes(d, 64, 0xdd));

		/* Freed while the thread's key is closed: wiped all the same. */
		memset(d, 0xee, 500);
		CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
		CHECK_EQ(pk_heap_free(h, d), 0);
		CHECK_EQ(pk_set(k, 0), 0);
		CHECK(all_bytes(d, 500, 0));
		CHECK_EQ(pk_heap_free(h, b), 0);
		CHECK(all_bytes(b, 48, 0));
		CHECK_EQ(pk_heap_destroy(h, 0), 0);
	}
}

void test_heap_calloc(void)
{
	int k = pkt_key(0);
	struct pk_heap *h = heap_new(k, 0, 0, NULL);
	char *a = take(h, 32), *next = a + 32;
	void *b = NULL;

	/* A stray write reached the free slot after a: calloc still zeroes. */
	memset(next, 0x77, 32);
	CHECK_EQ(pk_heap_calloc(h, 2, 16, &b), 0);
	CHECK(b == next);
	CHECK(all_bytes(b, 32, 0));
	CHECK_EQ(pk_heap_calloc(h, SIZE_MAX / 2, 3, &b), -EOVERFLOW);
	CHECK_EQ(pk_heap_calloc(h, 0, 3, &b), -EINVAL);
	CHECK_EQ(pk_heap_calloc(h, 3, 0, &b), -EINVAL);
	CHECK_EQ(pk_heap_calloc(h, 3, 3, NULL), -EINVAL);
	CHECK_EQ(pk_heap_calloc(NULL, 3, 3, &b), -EINVAL);
	CHECK(b == next);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_heap_calloc(h, 100, 100, &b), 0);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK(all_bytes(b, 10000, 0));
	CHECK_EQ(usage(h).blocks, 3);
}

void test_heap_realloc(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(0);
	struct pk_heap *h = heap_new(k, 0, 0, NULL);
	char *p = NULL, *q;

	CHECK_EQ(pk_heap_realloc(h, (void **)&p, 20), 0);
	CHECK(p != NULL);
	CHECK_EQ(pk_heap_usable_size(h, p), 32);
	memcpy(p, "0123456789abcdefghi", 20);
	/* Same size class: the block stays. */
	q = p;
	CHECK_EQ(pk_heap_realloc(h, (void **)&p, 30), 0);
	CHECK(p == q);
	CHECK_EQ(pk_heap_realloc(h, (void **)&p, 100), 0);
	CHECK(p != q);
	CHECK_EQ(pk_heap_usable_size(h, p), 112);
	CHECK_EQ(strcmp(p, "0123456789abcdefghi"), 0);
	CHECK_EQ(pk_heap_usable_size(h, q), -EALREADY);
	CHECK_EQ(pk_heap_realloc(h, (void **)&p, pg + 904), 0); /* 2 pages */
	CHECK_EQ((uintptr_t)p % pg, 0);
	CHECK_EQ(strcmp(p, "0123456789abcdefghi"), 0);
	q = p;
	CHECK_EQ(pk_heap_realloc(h, (void **)&p, 2 * pg), 0);
	CHECK(p == q);
	/* Shrinking to another class moves, and copies what fits. */
	CHECK_EQ(pk_heap_realloc(h, (void **)&p, 10), 0);
	CHECK(p != q);
	CHECK_EQ(memcmp(p, "0123456789", 10), 0);
	CHECK_EQ(pk_heap_usable_size(h, p), 16);
	CHECK_EQ(usage(h).blocks, 1);
	CHECK_EQ(pk_heap_realloc(h, (void **)&p, 0), -EINVAL);
	CHECK_EQ(pk_heap_realloc(h, NULL, 10), -EINVAL);
	CHECK_EQ(pk_heap_free(h, p), 0);
	CHECK_EQ(pk_heap_destroy(h, 0), 0);

	/* No room for the new block: *p and the block stay as they were. */
	h = heap_new(k, 0, 16 * pg, NULL);
	p = take(h, 8 * pg);
	memset(p, 0x42, 8 * pg);
	q = p;
	CHECK_EQ(pk_heap_realloc(h, (void **)&p, 15 * pg), -ENOMEM);
	CHECK(p == q);
	CHECK(all_bytes(p, 8 * pg, 0x42));
	CHECK_EQ(usage(h).blocks, 1);
	CHECK_EQ(usage(h).bytes, 8 * pg);
}

/* Size classes, alignment, and the canary's 16 bytes. */
void test_heap_sizes(void)
{
	size_t pg = pkt_page();
	const size_t table[][3] = {
		/* size, usable, usable with canaries */
		{1, 16, 16},	     {16, 16, 16},	  {17, 32, 32},
		{32, 32, 32},	     {33, 48, 48},	  {129, 160, 160},
		{1025, 1360, 1360},  {1361, 2048, 2048},  {2048, 2048, 2048},
		{2049, pg, pg - 16}, {pg - 16, pg, pg - 16},
		{pg - 15, pg, 2 * pg - 16}, {pg + 1, 2 * pg, 2 * pg - 16},
	};
	int k = pkt_key(0);

	for (int f = 0; f < 2; f++) {
		struct pk_heap *h =
			heap_new(k, f ? PK_HEAP_CANARIES : 0, 0, NULL);
		for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
			char *p = take(h, table[i][0]);
			CHECK_EQ(pk_heap_usable_size(h, p), table[i][1 + f]);
			CHECK_EQ((uintptr_t)p % (table[i][0] > 2048 ? pg : 16),
				 0);
			CHECK_EQ(pk_key_of(p), k);
		}
		CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	}
}

void test_heap_usage(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct pk_heap *h = heap_new(k, PK_HEAP_CANARIES, 1 << 20, NULL);
	struct pk_heap_usage u = usage(h);
	void *a[3], *b, *c;

	CHECK_EQ(u.blocks, 0);
	CHECK_EQ(u.bytes, 0);
	CHECK_EQ(u.pages, 0);
	CHECK_EQ(u.committed, 0);
	CHECK_EQ(u.reserved, 1 << 20);
	CHECK_EQ(u.key, k);
	CHECK_EQ(u.flags, PK_HEAP_CANARIES);
	CHECK(u.base != NULL);
	for (int i = 0; i < 3; i++)
		a[i] = take(h, 32);
	b = take(h, 100);
	c = take(h, pg + 904); /* two pages */
	u = usage(h);
	CHECK_EQ(u.blocks, 5);
	CHECK_EQ(u.bytes, 3 * 32 + 112 + 2 * pg - 16);
	/* A page of 32-byte blocks, one of 112-byte blocks, two large. */
	CHECK_EQ(u.pages, 4);
	CHECK_EQ(u.committed, 4 * pg);
	CHECK((char *)c == (char *)u.base + 2 * pg);
	CHECK_EQ(pk_heap_free(h, b), 0);
	u = usage(h);
	CHECK_EQ(u.blocks, 4);
	CHECK_EQ(u.bytes, 3 * 32 + 2 * pg - 16);
	CHECK_EQ(u.pages, 4); /* the last page of a class is kept */
	CHECK_EQ(pk_heap_free(h, c), 0);
	u = usage(h);
	CHECK_EQ(u.pages, 2);
	CHECK_EQ(u.committed, 2 * pg); /* freed pages at the top are given back */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pk_heap_free(h, a[i]), 0);
	u = usage(h);
	CHECK_EQ(u.blocks, 0);
	CHECK_EQ(u.bytes, 0);
	CHECK(u.metadata > 0 && u.metadata < pg + 2 * 64);
}

/* The budget: a 32-byte secret costs at most 48 bytes in all. */
void test_heap_memory_per_secret(void)
{
	int k = pkt_key(PK_DISABLE_ACCESS);
	static const size_t counts[] = {4096, 65536};

	for (int i = 0; i < 2; i++) {
		struct pk_heap *h = heap_new(k, 0, 0, NULL);
		struct pk_heap_usage u;

		for (size_t n = 0; n < counts[i]; n++)
			take(h, 32);
		u = usage(h);
		CHECK_EQ(u.blocks, counts[i]);
		CHECK_EQ(u.bytes, 32 * counts[i]);
		if ((u.committed + u.metadata) / counts[i] > 48)
			pkt_fail(__FILE__, __LINE__,
				 "%zu secrets: %zu bytes each", counts[i],
				 (u.committed + u.metadata) / counts[i]);
		CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	}
}

/* A full reservation fails cleanly, and freeing makes room again. */
void test_heap_exhaustion(void)
{
	size_t pg = pkt_page(), per_page = pg / 32, n = 0;
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct pk_heap *h = heap_new(k, 0, 16 * pg, NULL);
	void **all = calloc(16 * per_page + 1, sizeof(void *)), *p = NULL;

	CHECK(all != NULL);
	CHECK_EQ(pk_heap_alloc(h, 17 * pg, &p), -ENOMEM);
	CHECK_EQ(pk_heap_alloc(h, SIZE_MAX, &p), -ENOMEM);
	while (pk_heap_alloc(h, 32, &all[n]) == 0)
		n++;
	CHECK_EQ(n, 16 * per_page);
	CHECK_EQ(pk_heap_alloc(h, 32, &p), -ENOMEM);
	CHECK_EQ(pk_heap_alloc(h, pg, &p), -ENOMEM);
	CHECK_EQ(pk_heap_free(h, all[7]), 0);
	CHECK_EQ(pk_heap_alloc(h, 32, &p), 0);
	CHECK(p == all[7]);
	/* Two emptied pages of blocks: one goes back, a large block fits. */
	for (size_t i = 0; i < 2 * per_page; i++)
		CHECK_EQ(pk_heap_free(h, all[i]), 0);
	CHECK_EQ(pk_heap_alloc(h, pg, &p), 0);
	CHECK_EQ(usage(h).blocks, n - 2 * per_page + 1);
	free(all);
}

/*
 * Freed pages stay resident for the next allocations, and go back to
 * the kernel once there are many (more than 64 and than those in use).
 */
void test_heap_gives_back(void)
{
	size_t pg = pkt_page(), resident = 0;
	int k = pkt_key(0);
	struct pk_heap *h = heap_new(k, 0, 0, NULL);
	unsigned char vec[200];
	char *p[200], *base;

	for (int i = 0; i < 200; i++) {
		p[i] = take(h, pg);
		p[i][0] = 1;
	}
	base = usage(h).base;
	CHECK(p[0] == base && p[199] == base + 199 * pg);
	for (int i = 0; i < 10; i++)
		CHECK_EQ(pk_heap_free(h, p[i]), 0);
	CHECK_EQ(mincore(base, 200 * pg, vec), 0);
	for (int i = 0; i < 200; i++)
		CHECK(vec[i] & 1);
	CHECK(all_bytes(base, 10 * pg, 0));
	for (int i = 10; i < 200; i++)
		CHECK_EQ(pk_heap_free(h, p[i]), 0);
	CHECK_EQ(usage(h).committed, 0);
	CHECK_EQ(mincore(base, 200 * pg, vec), 0);
	for (int i = 0; i < 200; i++)
		resident += vec[i] & 1;
	if (resident > 64)
		pkt_fail(__FILE__, __LINE__, "%zu free pages resident", resident);
	CHECK(all_bytes(base, 200 * pg, 0));
}

/*
 * A stray write over every byte of the heap cannot corrupt the
 * allocator: its metadata is elsewhere.  Every block frees, new blocks
 * do not overlap, and calloc still returns zeros.
 */
void test_heap_stray_writes(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(0);
	struct pk_heap *h = heap_new(k, 0, 0, NULL);
	struct pk_heap_usage u;
	char *b[40];
	void *z = NULL;

	for (int i = 0; i < 40; i++)
		b[i] = take(h, some_sizes[i % NSIZES]);
	u = usage(h);
	memset(u.base, 0xff, u.committed);
	for (int i = 0; i < 40; i++)
		CHECK_EQ(pk_heap_free(h, b[i]), 0);
	CHECK_EQ(usage(h).blocks, 0);
	for (int i = 0; i < 40; i++) {
		b[i] = take(h, 64);
		memset(b[i], i, 64);
	}
	for (int i = 0; i < 40; i++)
		CHECK(all_bytes(b[i], 64, (unsigned char)i));
	CHECK_EQ(pk_heap_calloc(h, 1, 64, &z), 0);
	CHECK(all_bytes(z, 64, 0));
	CHECK_EQ(pk_heap_calloc(h, 1, 3 * pg, &z), 0);
	CHECK(all_bytes(z, 3 * pg, 0));
}

/* Random alloc/calloc/realloc/free against a model of the live blocks. */
struct mb {
	char *p;
	size_t size, usable;
	unsigned char fill;
};

static size_t pick_size(uint64_t *s)
{
	switch (rnd(s) % 8) {
	case 0: return 1 + rnd(s) % 16;
	case 1: case 2: case 3: case 4: return 1 + rnd(s) % 256;
	case 5: case 6: return 1 + rnd(s) % 2100;
	default: return 1 + rnd(s) % 20000;
	}
}

static int by_addr(const void *a, const void *b)
{
	const struct mb *x = a, *y = b;

	return x->p < y->p ? -1 : x->p > y->p;
}

/* Contents, sizes, counters, bounds, no overlaps.  Key open. */
static void model_check(struct pk_heap *h, const struct mb *m, size_t n)
{
	struct pk_heap_usage u = usage(h);
	struct mb s[256];
	size_t bytes = 0;

	for (size_t i = 0; i < n; i++) {
		CHECK(all_bytes(m[i].p, m[i].size, m[i].fill));
		CHECK_EQ(pk_heap_usable_size(h, m[i].p), m[i].usable);
		CHECK(m[i].p >= (char *)u.base &&
		      m[i].p + m[i].usable <= (char *)u.base + u.committed);
		bytes += m[i].usable;
	}
	CHECK_EQ(u.blocks, n);
	CHECK_EQ(u.bytes, bytes);
	memcpy(s, m, n * sizeof(*m));
	qsort(s, n, sizeof(*s), by_addr);
	for (size_t i = 1; i < n; i++)
		CHECK(s[i - 1].p + s[i - 1].usable <= s[i].p);
}

static void model_run(int k, unsigned flags, uint64_t seed)
{
	struct pk_heap *h = heap_new(k, flags, 0, NULL);
	struct mb m[256];
	size_t n = 0;

	for (int step = 0; step < 3000; step++) {
		uint64_t op = rnd(&seed) % 10;
		unsigned closed = rnd(&seed) % 2 ? PK_DISABLE_ACCESS : 0;
		size_t i = n ? rnd(&seed) % n : 0, size = pick_size(&seed);
		char *p = NULL, *old;

		CHECK_EQ(pk_set(k, closed), 0);
		if (n == 0 || (n < 256 && op < 4)) {
			if (op == 3)
				CHECK_EQ(pk_heap_calloc(h, 1, size, (void **)&p), 0);
			else
				CHECK_EQ(pk_heap_alloc(h, size, (void **)&p), 0);
			CHECK_EQ(pk_get(k), closed);
			CHECK_EQ(pk_set(k, 0), 0);
			m[n] = (struct mb){p, size, (size_t)pk_heap_usable_size(h, p),
					   (unsigned char)(1 + rnd(&seed) % 255)};
			CHECK(m[n].usable >= size);
			CHECK(all_bytes(p, m[n].usable, 0));
			memset(p, m[n].fill, size);
			n++;
		} else if (op < 7) {
			CHECK_EQ(pk_heap_free(h, m[i].p), 0);
			CHECK_EQ(pk_get(k), closed);
			CHECK_EQ(pk_set(k, 0), 0);
			CHECK(all_bytes(m[i].p, m[i].usable, 0));
			m[i] = m[--n];
		} else {
			old = p = m[i].p;
			CHECK_EQ(pk_heap_realloc(h, (void **)&p, size), 0);
			CHECK_EQ(pk_get(k), closed);
			CHECK_EQ(pk_set(k, 0), 0);
			CHECK(all_bytes(p, size < m[i].size ? size : m[i].size,
					m[i].fill));
			if (p != old)
				CHECK(all_bytes(old, m[i].usable, 0));
			m[i].p = p;
			m[i].size = size;
			m[i].usable = (size_t)pk_heap_usable_size(h, p);
			memset(p, m[i].fill, size);
		}
		if (step % 200 == 0)
			model_check(h, m, n);
	}
	CHECK_EQ(pk_set(k, 0), 0);
	model_check(h, m, n);
	while (n)
		CHECK_EQ(pk_heap_free(h, m[--n].p), 0);
	CHECK_EQ(usage(h).blocks, 0);
	/* Emptied pages go back, but for one kept per size class (22). */
	CHECK(usage(h).pages <= 22);
	CHECK_EQ(pk_heap_destroy(h, 0), 0);
}

void test_heap_model(void)
{
	int k = pkt_key(0);

	model_run(k, 0, 1);
	model_run(k, PK_HEAP_CANARIES | PK_HEAP_GUARD_PAGES, 2);
}

/*
 * 8 threads allocate, reallocate and free at once.  Half of them hold
 * the key open and check their blocks; the others keep it closed, so
 * their frees open it, and on hardware their own reads fault.
 */
static struct pk_heap *th_heap;
static int th_key;

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg, writer = id % 2 == 0;
	uint64_t seed = (uint64_t)id + 100;
	char *mine[32] = {0};
	size_t size[32];

	if (writer)
		CHECK_EQ(pk_set(th_key, 0), 0);
	/* The exact mode single-steps every access a writer makes while a
	 * reader lacks the key (a few microseconds each): fewer rounds. */
	int steps = pkt_exact_mode() ? 20 : 2000;

	for (int step = 0; step < steps; step++) {
		int j = (int)(rnd(&seed) % 32);
		if (!mine[j]) {
			size[j] = rnd(&seed) % 16 ? 1 + rnd(&seed) % 200
						  : 1 + rnd(&seed) % 9000;
			mine[j] = take(th_heap, size[j]);
			if (writer)
				memset(mine[j], id + 1, size[j]);
		} else if (rnd(&seed) % 4 == 0) {
			size_t s = 1 + rnd(&seed) % 400;
			CHECK_EQ(pk_heap_realloc(th_heap, (void **)&mine[j], s), 0);
			if (writer) {
				CHECK(all_bytes(mine[j], s < size[j] ? s : size[j],
						(unsigned char)(id + 1)));
				memset(mine[j], id + 1, s);
			}
			size[j] = s;
		} else {
			if (writer)
				CHECK(all_bytes(mine[j], size[j],
						(unsigned char)(id + 1)));
			else if (pkt_per_thread() && step % 50 == 0)
				EXPECT_FAULT(mine[j], R, th_key);
			CHECK_EQ(pk_heap_free(th_heap, mine[j]), 0);
			mine[j] = NULL;
		}
		CHECK_EQ(pk_get(th_key), writer ? 0 : PK_DISABLE_ACCESS);
	}
	for (int j = 0; j < 32; j++)
		CHECK_EQ(pk_heap_free(th_heap, mine[j]), 0);
	if (writer)
		CHECK_EQ(pk_set(th_key, PK_DISABLE_ACCESS), 0);
	return NULL;
}

void test_heap_threads(void)
{
	pthread_t t[8];

	/* Threads are created while the key is closed: see README, Rules. */
	th_key = pkt_key(PK_DISABLE_ACCESS);
	th_heap = heap_new(th_key, PK_HEAP_CANARIES, 0, NULL);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i),
			 0);
	for (int i = 0; i < 8; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK_EQ(usage(th_heap).blocks, 0);
	CHECK_EQ(usage(th_heap).bytes, 0);
	CHECK_EQ(pk_get(th_key), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_heap_destroy(th_heap, 0), 0);
}

/*
 * fork while other threads are inside heap calls: the child can use the
 * heap at once (no lock left held by a thread that does not exist in
 * it), and the parent's threads go on.
 */
static volatile int churn_stop;

static void *churn(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&churn_stop, __ATOMIC_RELAXED)) {
		void *p = take(th_heap, 32);
		CHECK_EQ(pk_heap_free(th_heap, p), 0);
	}
	return NULL;
}

void test_heap_fork(void)
{
	pthread_t t[2];

	th_key = pkt_key(0);
	th_heap = heap_new(th_key, 0, 0, NULL);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, churn, NULL), 0);
	for (int i = 0; i < 100; i++) {
		int status = 0, waited = 0;
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (pid == 0) {
			void *p = NULL;
			_exit(pk_heap_alloc(th_heap, 32, &p) == 0 &&
				      pk_heap_free(th_heap, p) == 0 &&
				      usage(th_heap).blocks <= 2
			      ? 0
			      : 1);
		}
		/* A child stuck on a heap lock is killed, and fails the test. */
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (++waited == 2000) {
				kill(pid, SIGKILL);
				CHECK_EQ(waitpid(pid, &status, 0), pid);
				pkt_fail(__FILE__, __LINE__,
					 "fork %d: the child is stuck in the heap",
					 i);
			}
			usleep(1000);
		}
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	__atomic_store_n(&churn_stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK_EQ(usage(th_heap).blocks, 0);
	CHECK_EQ(pk_heap_destroy(th_heap, 0), 0);
}

#define EXPECT_REPORT(r, count, text)                                      \
	do {                                                               \
		CHECK_EQ((r)->n, count);                                   \
		if (!strstr((r)->last, text) ||                            \
		    strncmp((r)->last, "pk_heap: ", 9) != 0)               \
			pkt_fail(__FILE__, __LINE__,                       \
				 "report \"%s\" lacks \"%s\"", (r)->last,  \
				 text);                                    \
	} while (0)

/*
 * Out-parameters in memory the caller cannot write: the fault reaches
 * the caller (here pk_try) without the heap's lock held, so the heap
 * keeps working, and it comes before the allocation, so nothing leaks.
 */
struct bad_out {
	struct pk_heap *h;
	void *out;
	int which;
};

static void call_with_bad_out(void *arg)
{
	struct bad_out *b = arg;

	if (b->which == 0)
		pk_heap_alloc(b->h, 32, b->out);
	else if (b->which == 1)
		pk_heap_calloc(b->h, 4, 8, b->out);
	else
		pk_heap_usage(b->h, b->out);
}

void test_heap_bad_out(void)
{
	int k = pkt_key(PK_DISABLE_ACCESS), closed = pkt_key(PK_DISABLE_ACCESS);
	struct pk_heap *h = heap_new(k, 0, 0, NULL);
	char *page = pkt_map(1, PROT_READ | PROT_WRITE);
	struct pk_fault f;
	struct pk_heap_usage before, after;

	CHECK_EQ(pk_protect_range(page, pkt_page(), closed, 0), 0);
	for (int which = 0; which < 3; which++) {
		struct bad_out b = {h, page + 64, which};

		before = usage(h);
		CHECK_EQ(pk_try(call_with_bad_out, &b, &f), -EFAULT);
		/* The struct may be stored in any order; a pointer exactly. */
		CHECK((char *)f.addr >= page + 64 &&
		      (char *)f.addr < page + 64 + (which == 2 ? sizeof(after)
							   : sizeof(void *)));
		CHECK_EQ(f.key, closed);
		after = usage(h);
		CHECK_EQ(after.blocks, before.blocks);
		CHECK_EQ(after.bytes, before.bytes);
		/* The lock is free: this would wait forever otherwise. */
		pk_heap_free(h, take(h, 48));
	}
	CHECK_EQ(pk_heap_destroy(h, 0), 0);
}

/*
 * A heap made where the kernel's next free addresses lie inside another
 * key's persistent assignment (a hole the program keyed ahead of time):
 * neither its bookkeeping nor its blocks take that key, and the
 * assignment stays whole.
 */
void test_heap_beside_persist(void)
{
	size_t pg = pkt_page(), n = ((size_t)2 << 30) / pg;
	int k = pkt_key(PK_DISABLE_ACCESS), other = pkt_key(0);
	char *hole = pkt_map(n, PROT_NONE);
	struct pk_heap *h;
	struct pk_heap_usage u;
	void *p;

	CHECK_EQ(munmap(hole, n * pg), 0);
	CHECK_EQ(pk_protect_range(hole, n * pg, other, PK_RANGE_PERSIST), 0);
	h = heap_new(k, 0, (size_t)1 << 30, NULL);
	u = usage(h);
	CHECK_EQ(pk_key_of(h), 0);
	CHECK_EQ(pk_key_of(u.base), k);
	CHECK((char *)u.base + u.reserved <= hole ||
	      (char *)u.base >= hole + n * pg);
	CHECK((char *)h + sizeof(void *) <= hole || (char *)h >= hole + n * pg);
	for (size_t i = 0; i < n; i += n / 64)
		CHECK_EQ(pk_key_of(hole + i * pg), other);
	/* Closing the other key leaves the heap alone. */
	CHECK_EQ(pk_set(other, PK_DISABLE_ACCESS), 0);
	p = take(h, 100);
	CHECK_EQ(pk_heap_free(h, p), 0);
	CHECK_EQ(pk_heap_destroy(h, 0), 0);
}

/* Every pointer the heap does not own is refused, reported, harmless. */
void test_heap_bad_pointers(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct reports r = {0}, r2 = {0};
	struct pk_heap *h = heap_new(k, 0, 0, &r), *other = heap_new(k, 0, 0, &r2);
	char *a = take(h, 32), *big = take(h, 3 * pg), *gone = take(h, 32);
	char *bgone = take(h, 2 * pg), *elsewhere = take(other, 32);
	char local[32], *m = malloc(32), *q;
	struct pk_heap_usage before;
	int n = 0;

	CHECK(m != NULL);
	CHECK_EQ(pk_heap_free(h, gone), 0);
	CHECK_EQ(pk_heap_free(h, bgone), 0);
	CHECK_EQ(pk_set(k, 0), 0);
	memset(a, 0x11, 32);
	memset(big, 0x22, 3 * pg);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	before = usage(h);

	CHECK_EQ(pk_heap_free(h, local), -EINVAL);
	EXPECT_REPORT(&r, ++n, "not a block of heap");
	EXPECT_REPORT(&r, n, "outside its memory");
	CHECK_EQ(pk_heap_free(h, m), -EINVAL);
	EXPECT_REPORT(&r, ++n, "outside its memory");
	CHECK_EQ(pk_heap_free(h, elsewhere), -EINVAL);
	EXPECT_REPORT(&r, ++n, "outside its memory");
	CHECK_EQ(pk_heap_free(h, a + 1), -EINVAL);
	EXPECT_REPORT(&r, ++n, "not the start of a block");
	CHECK_EQ(pk_heap_free(h, a + 16), -EINVAL);
	EXPECT_REPORT(&r, ++n, "not the start of a block");
	CHECK_EQ(pk_heap_free(h, big + pg), -EINVAL);
	EXPECT_REPORT(&r, ++n, "not the start of a block");
	CHECK_EQ(pk_heap_free(h, big + 8), -EINVAL);
	EXPECT_REPORT(&r, ++n, "not the start of a block");
	CHECK_EQ(pk_heap_free(h, (char *)before.base + before.reserved - pg),
		 -EINVAL);
	EXPECT_REPORT(&r, ++n, "in pages the heap does not use");
	CHECK_EQ(pk_heap_free(h, gone), -EALREADY);
	EXPECT_REPORT(&r, ++n, "double free");
	CHECK_EQ(pk_heap_free(h, bgone), -EALREADY);
	EXPECT_REPORT(&r, ++n, "double free");

	q = local;
	CHECK_EQ(pk_heap_realloc(h, (void **)&q, 64), -EINVAL);
	CHECK(q == local);
	EXPECT_REPORT(&r, ++n, "pk_heap_realloc");
	q = a + 8;
	CHECK_EQ(pk_heap_realloc(h, (void **)&q, 64), -EINVAL);
	CHECK(q == a + 8);
	EXPECT_REPORT(&r, ++n, "not the start of a block");
	q = gone;
	CHECK_EQ(pk_heap_realloc(h, (void **)&q, 64), -EALREADY);
	CHECK(q == gone);
	EXPECT_REPORT(&r, ++n, "double free");

	/* Queries answer without reporting. */
	CHECK_EQ(pk_heap_usable_size(h, local), -EINVAL);
	CHECK_EQ(pk_heap_usable_size(h, gone), -EALREADY);
	CHECK_EQ(pk_heap_usable_size(h, a + 1), -EINVAL);
	CHECK_EQ(r.n, n);
	CHECK_EQ(r2.n, 0);

	/* Nothing changed: counters, rights, contents. */
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	CHECK_EQ(usage(h).blocks, before.blocks);
	CHECK_EQ(usage(h).bytes, before.bytes);
	CHECK_EQ(usage(h).pages, before.pages);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK(all_bytes(a, 32, 0x11));
	CHECK(all_bytes(big, 3 * pg, 0x22));
	CHECK_EQ(pk_heap_free(h, NULL), 0);
	CHECK_EQ(pk_heap_free(NULL, a), -EINVAL);
	CHECK_EQ(pk_heap_free(h, a), 0);
	CHECK_EQ(pk_heap_free(other, elsewhere), 0);
	free(m);
}

/*
 * A slab whose blocks are all freed goes back to the page pool; a second
 * free of one of its blocks is still a double free (EALREADY), not a
 * foreign pointer, until the page is reused.
 */
void test_heap_double_free_empty_slab(void)
{
	size_t pg = pkt_page(), per = pg / 16;
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct reports r = {0};
	struct pk_heap *h = heap_new(k, 0, 0, &r);
	char **p = calloc(per + 1, sizeof(*p));

	CHECK(p != NULL);
	for (size_t i = 0; i <= per; i++)
		p[i] = take(h, 16);
	/* The first page is one slab of 16-byte blocks; the last block opens
	 * a second slab, so the first can be given back when empty. */
	CHECK(p[per] == p[0] + pg);
	for (size_t i = 0; i < per; i++)
		CHECK_EQ(pk_heap_free(h, p[i]), 0);
	CHECK_EQ(usage(h).blocks, 1);
	CHECK_EQ(r.n, 0);
	CHECK_EQ(pk_heap_free(h, p[0]), -EALREADY);
	EXPECT_REPORT(&r, 1, "double free");
	CHECK_EQ(pk_heap_free(h, p[per - 1]), -EALREADY);
	EXPECT_REPORT(&r, 2, "double free");
	CHECK_EQ(pk_heap_usable_size(h, p[0]), -EALREADY);
	CHECK_EQ(pk_heap_free(h, p[0] + 8), -EINVAL);
	EXPECT_REPORT(&r, 3, "not the start of a block");
	CHECK_EQ(usage(h).blocks, 1);
	/* Reused: the page holds live blocks again. */
	void *again = take(h, 16);
	CHECK(pk_heap_usable_size(h, again) == 16);
	CHECK_EQ(pk_heap_free(h, again), 0);
	CHECK_EQ(pk_heap_free(h, p[per]), 0);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	free(p);
}

/*
 * realloc to sizes no reservation holds, up to SIZE_MAX: ENOMEM, the
 * block unchanged (with canaries the page count once wrapped around and
 * a huge size looked like the block's own).
 */
void test_heap_realloc_huge(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);
	const unsigned flags[2] = {0, PK_HEAP_CANARIES};

	for (int f = 0; f < 2; f++) {
		struct pk_heap *h = heap_new(k, flags[f], 0, NULL);
		void *small = take(h, 32), *one = take(h, 3000);
		void *big = take(h, 2 * pg), *q;
		struct pk_heap_usage before = usage(h);
		size_t sizes[] = {before.reserved + 1, SIZE_MAX / 2,
				  SIZE_MAX - pg, SIZE_MAX - 16, SIZE_MAX - 15,
				  SIZE_MAX - 1, SIZE_MAX};

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			q = small;
			CHECK_EQ(pk_heap_realloc(h, &q, sizes[i]), -ENOMEM);
			CHECK(q == small);
			q = one;
			CHECK_EQ(pk_heap_realloc(h, &q, sizes[i]), -ENOMEM);
			CHECK(q == one);
			q = big;
			CHECK_EQ(pk_heap_realloc(h, &q, sizes[i]), -ENOMEM);
			CHECK(q == big);
		}
		CHECK_EQ(pk_heap_usable_size(h, small), 32);
		CHECK_EQ(usage(h).bytes, before.bytes);
		CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
		CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	}
}

/*
 * Reports run without the heap's lock, even one made deep inside an
 * allocation (putting back the thread's rights failed after writing a
 * new slab's canaries): another thread can use the heap meanwhile.
 */
static struct pk_heap *lock_heap;
static int lock_free_seen, lock_reports;

static void *ask_usage(void *arg)
{
	struct pk_heap_usage u;

	(void)arg;
	pk_heap_usage(lock_heap, &u);
	return NULL;
}

static void report_probe(void *arg, const char *msg)
{
	struct timespec until;
	pthread_t t;

	(void)arg;
	(void)msg;
	lock_reports++;
	CHECK_EQ(pthread_create(&t, NULL, ask_usage, NULL), 0);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	if (pthread_timedjoin_np(t, NULL, &until) == 0)
		lock_free_seen++;
	else
		pkt_fail(__FILE__, __LINE__, "report made with the lock held");
}

void test_heap_report_unlocked(void)
{
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct pk_heap_options o = {.flags = PK_HEAP_CANARIES |
						 PK_HEAP_NO_GUARD_PAGES,
				    .report = report_probe};
	void *p;

	CHECK_EQ(pk_heap_create(k, &o, &lock_heap), 0);
	for (int nth = 1; nth <= 3; nth++) {
		pk__test_fail_protect(nth, ENOMEM);
		/* A new size class each time: a new slab, canaries written. */
		int rc = pk_heap_alloc(lock_heap, 100 + 32 * (size_t)nth, &p);
		pk__test_fail_protect(0, 0);
		if (rc == 0)
			CHECK_EQ(pk_heap_free(lock_heap, p), 0);
		CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	}
	CHECK_EQ(lock_free_seen, lock_reports);
	/* The emulation narrows with mprotect, so a close can fail there;
	 * hardware keys change without a system call. */
	if (!pkt_exact())
		CHECK(lock_reports > 0);
	CHECK_EQ(pk_heap_destroy(lock_heap, 0), 0);
}

/* Without a callback, reports go to stderr, one line each. */
void test_heap_default_report(void)
{
	int k = pkt_key(0), fds[2], saved;
	struct pk_heap *h = heap_new(k, 0, 0, NULL);
	char *a = take(h, 32), buf[512];
	ssize_t len;

	CHECK_EQ(pk_heap_free(h, a), 0);
	CHECK_EQ(pipe(fds), 0);
	saved = dup(2);
	CHECK(saved >= 0);
	CHECK_EQ(dup2(fds[1], 2), 2);
	CHECK_EQ(pk_heap_free(h, a), -EALREADY);
	CHECK_EQ(dup2(saved, 2), 2);
	close(fds[1]);
	len = read(fds[0], buf, sizeof(buf) - 1);
	CHECK(len > 0);
	buf[len] = 0;
	CHECK(strncmp(buf, "pk_heap: pk_heap_free(", 22) == 0);
	CHECK(strstr(buf, "double free") != NULL);
	CHECK(strchr(buf, '\n') == buf + len - 1);
}

/* PK_HEAP_ABORT: bad input reports, then ends the process. */
void test_heap_abort(void)
{
	int k = pkt_key(0), status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		struct pk_heap *h = NULL;
		struct pk_heap_options o = {.flags = PK_HEAP_ABORT};
		void *p = NULL;

		if (pk_heap_create(k, &o, &h) || pk_heap_alloc(h, 10, &p) ||
		    pk_heap_free(h, p))
			_exit(3);
		pk_heap_free(h, p);
		_exit(4);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status));
	CHECK_EQ(WTERMSIG(status), SIGABRT);
}

void test_heap_destroy_live(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct reports r = {0};
	struct pk_heap *h = heap_new(k, PK_HEAP_GUARD_PAGES, 0, &r);
	char *a = take(h, 32), *b = take(h, 2 * pg);
	struct pk_heap_usage u = usage(h);
	unsigned char vec;

	CHECK_EQ(pk_heap_destroy(h, 0), -EBUSY);
	EXPECT_REPORT(&r, 1, "2 blocks");
	EXPECT_REPORT(&r, 1, "PK_HEAP_DESTROY_LIVE");
	CHECK_EQ(pk_heap_destroy(h, 0x100), -EINVAL);
	CHECK_EQ(pk_heap_destroy(NULL, 0), -EINVAL);
	/* Refused: the heap works as before. */
	CHECK_EQ(pk_set(k, 0), 0);
	strcpy(a, "still here");
	memset(b, 1, 2 * pg);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(usage(h).blocks, 2);
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	CHECK_EQ(r.n, 1);
	/* The memory is gone, guard pages included, and the key is free. */
	CHECK_EQ(mincore(u.base, pg, &vec), -1);
	CHECK_EQ(errno, ENOMEM);
	CHECK_EQ(mincore((char *)u.base - pg, pg, &vec), -1);
	CHECK_EQ(mincore((char *)u.base + u.reserved, pg, &vec), -1);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_heap_canaries(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(0);
	struct reports r = {0};
	struct pk_heap *h = heap_new(k, PK_HEAP_CANARIES, 0, &r);
	char *a = take(h, 32), *b = take(h, 32), *c = take(h, 32), *big, *q;
	size_t usable;
	char at[48];

	/* Slots are 48 bytes: 32 for the block, 16 for its canary. */
	CHECK(b == a + 48 && c == b + 48);
	memset(a, 0x61, 32); /* exactly the block: fine */
	CHECK_EQ(pk_heap_free(h, a), 0);
	CHECK_EQ(r.n, 0);

	memset(b, 0x62, 33); /* one byte too many */
	CHECK_EQ(pk_heap_free(h, b), -EOVERFLOW);
	EXPECT_REPORT(&r, 1, "overflow past the end of the block");
	EXPECT_REPORT(&r, 1, "canary was overwritten, first at offset 32 (0x62)");
	CHECK_EQ(usage(h).blocks, 1); /* freed all the same */
	CHECK(all_bytes(b, 32, 0));

	c[32] = 0; /* an off-by-one NUL */
	CHECK_EQ(pk_heap_free(h, c), -EOVERFLOW);
	EXPECT_REPORT(&r, 2, "first at offset 32 (0x00)");

	/* An overflow that ran on into a free block: that block is wiped. */
	a = take(h, 32);
	b = take(h, 32);
	CHECK_EQ(pk_heap_free(h, b), 0);
	memset(a, 0x63, 80);
	CHECK_EQ(pk_heap_free(h, a), -EOVERFLOW);
	EXPECT_REPORT(&r, 3, "overflow");
	CHECK(all_bytes(b, 32, 0));
	CHECK(take(h, 32) == a && take(h, 32) == b);
	CHECK_EQ(pk_heap_free(h, a), 0);
	CHECK_EQ(pk_heap_free(h, b), 0);
	CHECK_EQ(r.n, 3);

	/* Large blocks end with their canary. */
	big = take(h, pg + 904);
	usable = (size_t)pk_heap_usable_size(h, big);
	CHECK_EQ(usable, 2 * pg - 16);
	memset(big, 1, usable);
	CHECK_EQ(pk_heap_free(h, big), 0);
	big = take(h, pg + 904);
	big[usable + 15] = 0;
	CHECK_EQ(pk_heap_free(h, big), -EOVERFLOW);
	snprintf(at, sizeof(at), "first at offset %zu (0x00)", usable + 15);
	EXPECT_REPORT(&r, 4, at); /* 8191 with 4 KiB pages */

	/* realloc refuses to move a damaged block, and leaves it. */
	q = a = take(h, 100);
	a[112] ^= 1;
	CHECK_EQ(pk_heap_realloc(h, (void **)&q, 1000), -EOVERFLOW);
	CHECK(q == a);
	EXPECT_REPORT(&r, 5, "pk_heap_realloc");
	CHECK_EQ(pk_heap_usable_size(h, a), 112);
	CHECK_EQ(pk_heap_free(h, a), -EOVERFLOW);
	CHECK_EQ(r.n, 6);
	CHECK_EQ(usage(h).blocks, 0);
}

void test_heap_guard_pages(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(0);
	struct pk_heap *h = heap_new(k, PK_HEAP_GUARD_PAGES, 8 * pg, NULL);
	struct pk_heap_usage u = usage(h);
	char *base = u.base, *end = base + u.reserved;

	/* Even with the key open, running off either end faults, no key. */
	EXPECT_FAULT(base - 1, R, -1);
	EXPECT_FAULT(base - pg, W, -1);
	EXPECT_FAULT(end, R, -1);
	EXPECT_FAULT(end + pg - 1, W, -1);
	EXPECT_OK(base, R);
	EXPECT_OK(end - 1, R);
	CHECK_EQ(pk_key_of(base - 1), 0);
	CHECK_EQ(pk_key_of(base), k);
	CHECK_EQ(pk_key_of(end - 1), k);
	CHECK_EQ(pk_key_of(end), 0);
	/* A block at the very end of the heap: its overrun hits the guard. */
	char *p = take(h, 8 * pg);
	CHECK(p == base);
	EXPECT_FAULT(p + 8 * pg, W, -1);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
}

/*
 * Without options (NULL, or all zero), a heap has guard pages and
 * canaries: an overrun off the heap faults, one off a block is reported
 * when it is freed.
 */
void test_heap_secure_defaults(void)
{
	int k = pkt_key(0);
	struct reports r = {0};
	struct pk_heap_options o = {.report = on_report, .report_arg = &r};
	struct pk_heap *h = NULL;
	struct pk_heap_usage u;
	char *p;

	CHECK_EQ(pk_heap_create(k, NULL, &h), 0);
	u = usage(h);
	CHECK_EQ(u.flags, PK_HEAP_GUARD_PAGES | PK_HEAP_CANARIES);
	CHECK_EQ(u.locked, 0);
	EXPECT_FAULT((char *)u.base - 1, W, -1);
	EXPECT_FAULT((char *)u.base + u.reserved, R, -1);
	CHECK_EQ(pk_heap_destroy(h, 0), 0);

	CHECK_EQ(pk_heap_create(k, &o, &h), 0);
	CHECK_EQ(usage(h).flags, PK_HEAP_GUARD_PAGES | PK_HEAP_CANARIES);
	p = take(h, 24);
	CHECK_EQ(pk_heap_usable_size(h, p), 32);
	p[32] = 'x'; /* one byte past the block: into its canary */
	CHECK_EQ(pk_heap_free(h, p), -EOVERFLOW);
	EXPECT_REPORT(&r, 1, "overflow past the end of the block");
	CHECK_EQ(pk_heap_destroy(h, 0), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

/* The VmFlags of the mapping holding addr, from /proc/self/smaps. */
static void vm_flags(const void *addr, char *out, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int in = 0;

	CHECK(f != NULL);
	out[0] = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 &&
		    strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)addr >= lo && (uintptr_t)addr < hi;
		else if (in && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, len, "%s", line + 8);
			break;
		}
	}
	fclose(f);
	CHECK(out[0] != 0);
}

static int has_flag(const char *flags, const char *f)
{
	char pad[520];

	snprintf(pad, sizeof(pad), " %s ", flags);
	pad[strcspn(pad, "\n")] = ' ';
	char want[8];
	snprintf(want, sizeof(want), " %s ", f);
	return strstr(pad, want) != NULL;
}

void test_heap_dontdump_mlock(void)
{
	int k = pkt_key(PK_DISABLE_ACCESS);
	char flags[512];

	for (int f = 0; f < 2; f++) {
		struct pk_heap *h =
			heap_new(k, f ? PK_HEAP_MLOCK : 0, 64 << 10, NULL);
		char *p = take(h, 100), *end;

		end = (char *)usage(h).base + usage(h).reserved - 1;
		vm_flags(p, flags, sizeof(flags));
		CHECK(has_flag(flags, "dd"));
		CHECK_EQ(has_flag(flags, "lo"), f);
		vm_flags(end, flags, sizeof(flags));
		CHECK(has_flag(flags, "dd"));
		CHECK_EQ(has_flag(flags, "lo"), f);
		CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	}
}

/* Take CAP_IPC_LOCK out of the effective set, so RLIMIT_MEMLOCK applies. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &hdr, d))
		return -1;
	d[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	return (int)syscall(SYS_capset, &hdr, d);
}

/* Bytes of locked memory in the mapping holding addr (/proc/self/smaps). */
static size_t locked_at(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int in = 0;
	size_t kb = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2)
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
		else if (in && sscanf(line, "Locked: %zu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb * 1024;
}

/*
 * PK_HEAP_MLOCK under a limit too low for the reservation: the heap
 * locks what the limit allows, from its start, and reports the rest;
 * PK_HEAP_MLOCK_STRICT fails instead.
 */
void test_heap_mlock_partial(void)
{
	struct rlimit rl = {64 << 10, 64 << 10};
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct reports r = {0};
	struct pk_heap_options o = {.reserve = 1 << 20, .flags = PK_HEAP_MLOCK,
				    .report = on_report, .report_arg = &r};
	struct pk_heap *h = NULL;
	struct pk_heap_usage u;
	size_t pg = pkt_page(), want;
	char *p;

	if (drop_ipc_lock())
		pkt_skip("cannot drop CAP_IPC_LOCK");
	if (pg > (32 << 10))
		rl.rlim_cur = rl.rlim_max = 4 * pg;
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	CHECK_EQ(pk_heap_create(k, &o, &h), 0);
	u = usage(h);
	/* All the limit leaves, less what the process locked before. */
	want = rl.rlim_cur;
	CHECK(u.locked > 0 && u.locked <= want && u.locked % pg == 0);
	CHECK(u.flags & PK_HEAP_MLOCK);
	EXPECT_REPORT(&r, 1, "locked the first");
	EXPECT_REPORT(&r, 1, "1048576 bytes");
	/* The first page in use is locked (MLOCK_ONFAULT: once touched). */
	p = take(h, 32);
	CHECK_EQ(pk_set(k, 0), 0);
	p[0] = 1;
	CHECK(locked_at(p) > 0);
	CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	CHECK_EQ(r.n, 1);
	/* A limit of 0: nothing locked, reported, the heap works. */
	rl.rlim_cur = 0;
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	CHECK_EQ(pk_heap_create(k, &o, &h), 0);
	CHECK_EQ(usage(h).locked, 0);
	EXPECT_REPORT(&r, 2, "locked the first 0 of");
	CHECK(take(h, 32) != NULL);
	CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_heap_mlock_limit(void)
{
	struct rlimit rl = {64 << 10, 64 << 10};
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct reports r = {0};
	struct pk_heap_options o = {.reserve = 1 << 20,
				    .flags = PK_HEAP_MLOCK | PK_HEAP_MLOCK_STRICT,
				    .report = on_report, .report_arg = &r};
	struct pk_heap *h = NULL;

	if (drop_ipc_lock())
		pkt_skip("cannot drop CAP_IPC_LOCK");
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	CHECK_EQ(pk_heap_create(k, &o, &h), -EPERM);
	CHECK(h == NULL);
	EXPECT_REPORT(&r, 1, "RLIMIT_MEMLOCK is 65536 bytes");
	EXPECT_REPORT(&r, 1, "1048576 bytes");
	/* Nothing stays behind: no page carries the key. */
	CHECK_EQ(pk_key_free(k), 0);

	k = pkt_key(PK_DISABLE_ACCESS);
	o.reserve = 32 << 10;
	CHECK_EQ(pk_heap_create(k, &o, &h), 0);
	CHECK(take(h, 32) != NULL);
	CHECK_EQ(pk_heap_destroy(h, PK_HEAP_DESTROY_LIVE), 0);
	CHECK_EQ(r.n, 1);
	/* A limit of 0 forbids locking altogether: the same error. */
	rl.rlim_cur = 0;
	CHECK_EQ(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	CHECK_EQ(pk_heap_create(k, &o, &h), -EPERM);
	EXPECT_REPORT(&r, 2, "RLIMIT_MEMLOCK is 0 bytes");
}

/*
 * The heap is one keyed range, whatever it holds: on the emulation a
 * change of rights is exactly one protection call (the second would
 * fail here); on hardware none.
 */
/*
 * On the emulation, closing and opening the heap's key is one mprotect:
 * a failure injected into a second call never fires, one injected into
 * the first does (and the hardware makes none).  Leaves the key closed.
 */
static void one_call_per_change(int k)
{
	int rc;

	pk__test_fail_protect(2, EIO);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	pk__test_fail_protect(2, EIO);
	CHECK_EQ(pk_set(k, 0), 0);
	pk__test_fail_protect(1, EIO);
	rc = pk_set(k, PK_DISABLE_ACCESS);
	pk__test_fail_protect(0, 0);
	CHECK_EQ(rc, pkt_exact() ? 0 : -EIO);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
}

void test_heap_one_protection_call(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(0);
	struct pk_heap *h = heap_new(
		k, PK_HEAP_GUARD_PAGES | PK_HEAP_MLOCK | PK_HEAP_CANARIES,
		1024 * pg, NULL);
	char *p[64];

	for (int i = 0; i < 64; i++)
		p[i] = take(h, i % 3 ? 32 : 3 * pg);
	for (int i = 0; i < 64; i += 2)
		CHECK_EQ(pk_heap_free(h, p[i]), 0);
	one_call_per_change(k);
	for (int i = 1; i < 64; i += 2)
		EXPECT_FAULT(p[i], R, k);
}

/* Whether the page at p is in memory, from /proc/self/pagemap. */
static int page_present(const void *p)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = 0;

	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &e, sizeof(e),
		       (off_t)((uintptr_t)p / pkt_page() * sizeof(e))),
		 (ssize_t)sizeof(e));
	close(fd);
	return (int)(e >> 63);
}

/*
 * The flush sentinel (src/heap/heap_flush.c), forced on or off: mapped while
 * the heap's pages reach from 8 to 33, dropped below 4 and above 48,
 * never mapped when off; inside the keyed range (a read faults with the
 * heap's key), outside the heap's blocks, and a key change stays one
 * mprotect on the emulation.
 */
static void sentinel_run(const char *mode)
{
	size_t pg = pkt_page();
	int on = mode[0] == '1', k = pkt_key(0);
	struct pk_heap *h;
	struct pk_heap_usage u;
	struct reports r = {0};
	char *p[60], *s;
	int i;

	CHECK_EQ(setenv("PKEYS_HEAP_SENTINEL", mode, 1), 0);
	h = heap_new(k, 0, 256 * pg, &r);
	u = usage(h);
	s = (char *)u.base + u.reserved + 33 * pg;
	for (i = 0; i < 7; i++)
		p[i] = take(h, pg);
	CHECK(!page_present(s));
	p[i++] = take(h, pg);
	CHECK_EQ(usage(h).committed, 8 * pg);
	CHECK_EQ(page_present(s), on);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(s, R, k);
	CHECK_EQ(pk_heap_free(h, s), -EINVAL);
	CHECK(strstr(r.last, "outside its memory") != NULL);
	one_call_per_change(k);
	for (; i < 49; i++)
		p[i] = take(h, pg);
	CHECK(!page_present(s));
	/* Back down through the band: mapped again, then dropped. */
	while (i > 20)
		CHECK_EQ(pk_heap_free(h, p[--i]), 0);
	CHECK_EQ(usage(h).committed, 20 * pg);
	CHECK_EQ(page_present(s), on);
	while (i > 3)
		CHECK_EQ(pk_heap_free(h, p[--i]), 0);
	CHECK(!page_present(s));
	EXPECT_FAULT(p[0], W, k);
	while (i > 0)
		CHECK_EQ(pk_heap_free(h, p[--i]), 0);
	CHECK_EQ(pk_heap_destroy(h, 0), 0);
}

void test_heap_flush_sentinel(void)
{
	sentinel_run("1");
}

void test_heap_no_sentinel(void)
{
	sentinel_run("0");
}

void test_heap_bad_args(void)
{
	int k = pkt_key(0), gone = pkt_key(0);
	struct pk_heap_options o = {0};
	struct pk_heap *h = NULL;
	void *p = NULL;

	CHECK_EQ(pk_key_free(gone), 0);
	CHECK_EQ(pk_heap_create(k, NULL, NULL), -EINVAL);
	CHECK_EQ(pk_heap_create(0, NULL, &h), -EINVAL);
	CHECK_EQ(pk_heap_create(-1, NULL, &h), -EINVAL);
	CHECK_EQ(pk_heap_create(16, NULL, &h), -EINVAL);
	CHECK_EQ(pk_heap_create(gone, NULL, &h), -EINVAL);
	o.flags = 0x100;
	CHECK_EQ(pk_heap_create(k, &o, &h), -EINVAL);
	/* A protection both on and off; strict locking without locking. */
	o.flags = PK_HEAP_GUARD_PAGES | PK_HEAP_NO_GUARD_PAGES;
	CHECK_EQ(pk_heap_create(k, &o, &h), -EINVAL);
	o.flags = PK_HEAP_CANARIES | PK_HEAP_NO_CANARIES;
	CHECK_EQ(pk_heap_create(k, &o, &h), -EINVAL);
	o.flags = PK_HEAP_MLOCK_STRICT;
	CHECK_EQ(pk_heap_create(k, &o, &h), -EINVAL);
	o.flags = 0;
	o.spare[3] = &o; /* room for later options: must be 0 */
	CHECK_EQ(pk_heap_create(k, &o, &h), -EINVAL);
	o.spare[3] = NULL;
	o.reserve = SIZE_MAX;
	CHECK_EQ(pk_heap_create(k, &o, &h), -EINVAL);
	CHECK(h == NULL);
	CHECK_EQ(pk_key_free(k), 0); /* nothing was mapped with it */

	k = pkt_key(0);
	CHECK_EQ(pk_heap_create(k, NULL, &h), 0);
	CHECK_EQ(pk_heap_alloc(h, 0, &p), -EINVAL);
	CHECK_EQ(pk_heap_alloc(h, 1, NULL), -EINVAL);
	CHECK_EQ(pk_heap_alloc(NULL, 1, &p), -EINVAL);
	CHECK_EQ(pk_heap_usage(h, NULL), -EINVAL);
	CHECK_EQ(pk_heap_usage(NULL, &(struct pk_heap_usage){0}), -EINVAL);
	CHECK_EQ(pk_heap_usable_size(NULL, &p), -EINVAL);
	CHECK_EQ(pk_heap_usable_size(h, NULL), -EINVAL);
	CHECK_EQ(pk_heap_realloc(NULL, &p, 1), -EINVAL);
	CHECK(p == NULL);
	CHECK_EQ(usage(h).blocks, 0);
	CHECK_EQ(pk_heap_destroy(h, 0), 0);
}
