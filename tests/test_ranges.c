/* SPDX-License-Identifier: MIT */
/*
 * Key ranges: every flag and error of pk_protect_range and
 * pk_unprotect_range, the all-or-nothing rule under injected failures,
 * PERSIST across mappings, pk_mmap and pk_key_of.
 */
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pktest.h"

void pk__test_fail_protect(int nth, int err);
void pk__test_rindex_off(void);

#define RW (PROT_READ | PROT_WRITE)

/* pages p[0..n) with prots[i]: separate kernel mappings when they differ. */
static char *map_prots(const int *prots, size_t n)
{
	char *p = pkt_map(n, RW);

	for (size_t i = 0; i < n; i++) {
		p[i * pkt_page()] = (char)('a' + i);
		CHECK_EQ(mprotect(p + i * pkt_page(), pkt_page(), prots[i]), 0);
	}
	return p;
}

/*
 * What a page is, seen from outside: its key, and whether a read and a
 * write go through (0), fault on a key (1) or fault otherwise (2).
 */
struct look {
	int key, read, write;
};

static int outcome(void *addr, int access)
{
	struct pk_fault f;

	if (!pkt_access(addr, access, 0, &f))
		return 0;
	return f.key > 0 ? 1 : 2;
}

static struct look look_at(char *page)
{
	struct look l = {pk_key_of(page), outcome(page, R), 0};

	/* Writing back what is there keeps the page's contents. */
	if (l.read == 0) {
		struct pk_fault f;
		l.write = pkt_access(page, W, *(volatile char *)page, &f)
				  ? (f.key > 0 ? 1 : 2) : 0;
	} else {
		l.write = outcome(page, W) ? (l.read == 1 ? 1 : 2) : 0;
	}
	return l;
}

static void expect_same(const struct look *a, const struct look *b, size_t n,
			const char *what)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].key != b[i].key || a[i].read != b[i].read ||
		    a[i].write != b[i].write)
			pkt_fail(__FILE__, __LINE__,
				 "%s: page %zu was key %d r%d w%d, now key %d r%d w%d",
				 what, i, a[i].key, a[i].read, a[i].write,
				 b[i].key, b[i].read, b[i].write);
}

static void snapshot(char *p, size_t n, struct look *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = look_at(p + i * pkt_page());
}

void test_range_basic(void)
{
	char *p = pkt_map(2, RW);
	int k = pkt_key(PK_DISABLE_ACCESS);

	p[0] = 'x';
	CHECK_EQ(pk_protect_range(p, pkt_page(), k, 0), 0);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + pkt_page() - 1), k);
	CHECK_EQ(pk_key_of(p + pkt_page()), 0);
	EXPECT_FAULT(p, R, k);
	EXPECT_OK(p + pkt_page(), W);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(p[0], 'x');
	p[1] = 'y';
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_unprotect_range(p, pkt_page(), PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(p[1], 'y');
	CHECK_EQ(pk_key_free(k), 0);
}

/* Re-keying keeps each page's own protection, across mappings. */
void test_range_keeps_prot(void)
{
	static const int prots[] = {PROT_READ, RW, PROT_NONE, RW};
	char *p = map_prots(prots, 4);
	size_t pg = pkt_page();
	int k = pkt_key(0);

	CHECK_EQ(pk_protect_range(p, 4 * pg, k, 0), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pk_key_of(p + i * pg), k);
	EXPECT_OK(p, R);
	EXPECT_FAULT(p, W, -1);
	EXPECT_OK(p + pg, W);
	EXPECT_FAULT(p + 2 * pg, R, -1);
	EXPECT_OK(p + 3 * pg, W);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	EXPECT_OK(p + pg, R);
	EXPECT_FAULT(p + pg, W, k);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	EXPECT_FAULT(p + 3 * pg, R, k);
	CHECK_EQ(pk_unprotect_range(p, 4 * pg, PK_NO_CHECK_AUTHORITY), 0);
	EXPECT_OK(p, R);
	EXPECT_FAULT(p, W, -1);
	EXPECT_OK(p + pg, W);
	EXPECT_FAULT(p + 2 * pg, R, -1);
	CHECK_EQ(p[0], 'a');
}

void test_range_excl(void)
{
	char *p = pkt_map(3, RW);
	size_t pg = pkt_page();
	int k = pkt_key(0), k2 = pkt_key(0);

	CHECK_EQ(pk_protect_range(p + pg, pg, k, PK_RANGE_EXCL), 0);
	CHECK_EQ(pk_protect_range(p, 3 * pg, k2, PK_RANGE_EXCL), -EBUSY);
	CHECK_EQ(pk_key_of(p), 0);
	CHECK_EQ(pk_key_of(p + pg), k);
	CHECK_EQ(pk_key_of(p + 2 * pg), 0);
	/* Key 0 assigned explicitly counts as an assignment. */
	CHECK_EQ(pk_protect_range(p, pg, 0, 0), 0);
	CHECK_EQ(pk_key_of(p), 0);
	CHECK_EQ(pk_protect_range(p, pg, k2, PK_RANGE_EXCL), -EBUSY);
	CHECK_EQ(pk_protect_range(p + 2 * pg, pg, k2, PK_RANGE_EXCL), 0);
	/* Without EXCL an assignment replaces what is there. */
	CHECK_EQ(pk_protect_range(p, 3 * pg, k2, 0), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pk_key_of(p + i * pg), k2);
	CHECK_EQ(pk_unprotect_range(p, 3 * pg, 0), 0);
	CHECK_EQ(pk_protect_range(p, 3 * pg, k, PK_RANGE_EXCL), 0);
	CHECK_EQ(pk_key_free(k2), 0);
}

void test_range_partial_page(void)
{
	char *p = pkt_map(2, RW);
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_protect_range(p + 1, pg, k, 0), -ERANGE);
	CHECK_EQ(pk_protect_range(p, pg + 1, k, 0), -ERANGE);
	CHECK_EQ(pk_protect_range(p, 100, k, 0), -ERANGE);
	CHECK_EQ(pk_unprotect_range(p + 8, pg, 0), -ERANGE);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	/* PK_RANGE_ROUND widens to the pages the bytes touch. */
	CHECK_EQ(pk_protect_range(p + 100, 10, k, PK_RANGE_ROUND), 0);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + pg), 0);
	EXPECT_FAULT(p + 4, R, k);
	CHECK_EQ(pk_protect_range(p + pg - 1, 2, k,
				  PK_RANGE_ROUND | PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p + pg), k);
	CHECK_EQ(pk_unprotect_range(p + 5, 2 * pg - 10,
				    PK_RANGE_ROUND | PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p), 0);
	CHECK_EQ(pk_key_of(p + pg), 0);
}

void test_range_bad_args(void)
{
	char *p = pkt_map(1, RW);
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS), gone = pkt_key(0);
	uintptr_t top = pkt_user_top();

	CHECK_EQ(pk_key_free(gone), 0);
	CHECK_EQ(pk_protect_range(p, pg, k, 0x100), -EINVAL);
	CHECK_EQ(pk_unprotect_range(p, pg, PK_RANGE_EXCL), -EINVAL);
	CHECK_EQ(pk_protect_range(p, pg, gone, 0), -EINVAL);
	CHECK_EQ(pk_protect_range(p, pg, -1, 0), -EINVAL);
	CHECK_EQ(pk_protect_range(p, pg, 16, 0), -EINVAL);
	CHECK_EQ(pk_protect_range(NULL, pg, k, 0), -EFAULT);
	CHECK_EQ(pk_protect_range(p, SIZE_MAX - pg + 1, k, 0), -EFAULT);
	CHECK_EQ(pk_protect_range((void *)(UINTPTR_MAX - pg + 1), pg, k, 0),
		 -EFAULT);
	if (top) {
		/* The highest page the kernel maps takes a key; a range past
		 * it is refused. */
		uintptr_t end = pkt_user_end();
		char *last = mmap((void *)(end - pg), pg, RW,
				  MAP_PRIVATE | MAP_ANONYMOUS |
					  MAP_FIXED_NOREPLACE, -1, 0);

		CHECK(last == (char *)(end - pg) ||
		      (last == MAP_FAILED && errno == EEXIST));
		CHECK_EQ(pk_protect_range((void *)(top - pg), 2 * pg, k,
					  PK_RANGE_PERSIST), -EFAULT);
		CHECK_EQ(pk_protect_range((void *)(end - pg), 2 * pg, k, 0),
			 -EFAULT);
		if (last != MAP_FAILED) {
			CHECK_EQ(pk_protect_range(last, pg, k, 0), 0);
			CHECK_EQ(pk_key_of(last), k);
			EXPECT_FAULT(last, R, k);
			CHECK_EQ(pk_munmap(last, pg), 0);
		}
	}
	CHECK_EQ(pk_protect_range(p, 0, k, 0), 0);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_range_unmapped(void)
{
	char *p = pkt_map(3, RW);
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS), k2 = pkt_key(0);

	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	CHECK_EQ(munmap(p + pg, pg), 0);
	CHECK_EQ(pk_protect_range(p, 3 * pg, k2, 0), -ENOMEM);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + 2 * pg), 0);
	EXPECT_FAULT(p, R, k);
	EXPECT_OK(p + 2 * pg, W);
	/* Unprotecting may cover holes: there is nothing to change there. */
	CHECK_EQ(pk_unprotect_range(p, 3 * pg, PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
}

void test_range_authority(void)
{
	char *p = pkt_map(2, RW);
	size_t pg = pkt_page();
	int k = pkt_key(0), k2 = pkt_key(0);

	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_protect_range(p, 2 * pg, k2, 0), -EPERM);
	CHECK_EQ(pk_unprotect_range(p, pg, 0), -EPERM);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	CHECK_EQ(pk_protect_range(p, pg, k2, 0), -EPERM);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + pg), 0);
	EXPECT_FAULT(p, W, k);
	/* Write rights on the keys there now are what authority means. */
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(pk_set(k2, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_protect_range(p, 2 * pg, k2, 0), 0);
	CHECK_EQ(pk_key_of(p + pg), k2);
	CHECK_EQ(pk_protect_range(p, pg, k, 0), -EPERM);
	CHECK_EQ(pk_protect_range(p, pg, k, PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_unprotect_range(p, 2 * pg, 0), -EPERM);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_unprotect_range(p, 2 * pg, PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p + pg), 0);
	EXPECT_OK(p + pg, W);
}

void test_range_persist(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(4, RW), *q;
	int k = pkt_key(PK_DISABLE_ACCESS);

	/* Pages 2-3 are unmapped: PERSIST may cover them. */
	CHECK_EQ(munmap(p + 2 * pg, 2 * pg), 0);
	CHECK_EQ(pk_protect_range(p, 4 * pg, k, 0), -ENOMEM);
	CHECK_EQ(pk_protect_range(p, 4 * pg, k, PK_RANGE_PERSIST), 0);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + 3 * pg), k);
	EXPECT_FAULT(p + pg, R, k);

	/* The key outlives the mapping and comes back with a new one. */
	CHECK_EQ(munmap(p, 2 * pg), 0);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_free(k), -EBUSY);
	q = mmap(p + pg, pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(q == p + pg);
	EXPECT_FAULT(q, W, k);
	void *r = p + 2 * pg;
	CHECK_EQ(pk_mmap(&r, 2 * pg, RW, MAP_PRIVATE | MAP_FIXED, -1), 0);
	CHECK(r == p + 2 * pg);
	EXPECT_FAULT(p + 3 * pg, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	p[3 * pg] = 'z';
	q[0] = 'q';
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);

	/* Unprotect forgets it: mappings made afterwards have no key. */
	CHECK_EQ(pk_unprotect_range(p, 4 * pg, PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p + 3 * pg), 0);
	CHECK_EQ(p[3 * pg], 'z');
	CHECK_EQ(munmap(p + pg, 3 * pg), 0);
	q = mmap(p, 4 * pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(q == p);
	EXPECT_OK(q + pg, W);
	EXPECT_OK(q + 3 * pg, W);
	CHECK_EQ(pk_key_free(k), 0);
}

/*
 * All or nothing: make the n-th protection call fail, for every n a
 * change makes, and check every page is exactly as before.
 */
static const int aon_prots[] = {PROT_READ, RW, PROT_NONE, RW, RW, PROT_READ};

static void aon_setup(char *p, int k)
{
	size_t pg = pkt_page();

	CHECK_EQ(pk_unprotect_range(p, 6 * pg, PK_NO_CHECK_AUTHORITY), 0);
	for (int i = 0; i < 6; i++)
		CHECK_EQ(pk_mprotect(p + i * pg, pg, aon_prots[i], 0), 0);
	CHECK_EQ(pk_protect_range(p + 3 * pg, 2 * pg, k, 0), 0);
}

void test_range_all_or_nothing(void)
{
	char *p = map_prots(aon_prots, 6);
	size_t pg = pkt_page();
	int k = pkt_key(0), k2 = pkt_key(0);
	struct look before[6], after[6];
	/* Five pieces (pages 3-4 are one) to re-key; unprotect changes one. */
	static const int least[3] = {5, 5, 1};

	aon_setup(p, k);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	snapshot(p, 6, before);
	for (int op = 0; op < 3; op++) {
		int failures = 0, rc;
		for (int n = 1;; n++) {
			pk__test_fail_protect(n, EIO);
			if (op == 0)
				rc = pk_protect_range(p, 6 * pg, k2,
						      PK_NO_CHECK_AUTHORITY);
			else if (op == 1)
				rc = pk_mprotect(p, 6 * pg, RW, k2);
			else
				rc = pk_unprotect_range(p, 6 * pg,
							PK_NO_CHECK_AUTHORITY);
			pk__test_fail_protect(0, 0);
			if (rc == 0)
				break;
			CHECK_EQ(rc, -EIO);
			failures++;
			snapshot(p, 6, after);
			expect_same(before, after, 6, op == 0 ? "pk_protect_range"
						      : op == 1 ? "pk_mprotect"
								: "pk_unprotect_range");
		}
		if (failures < least[op])
			pkt_fail(__FILE__, __LINE__, "op %d: only %d failures",
				 op, failures);
		aon_setup(p, k);
		snapshot(p, 6, after);
		expect_same(before, after, 6, "setup");
	}
}

/* On the emulation pk_set reprotects pages; a failure there undoes too. */
void test_set_all_or_nothing(void)
{
	char *p = pkt_map(5, RW);
	size_t pg = pkt_page();
	int k = pkt_key(0), rc;

	for (int i = 0; i < 5; i += 2)
		CHECK_EQ(pk_protect_range(p + i * pg, pg, k, 0), 0);
	pk__test_fail_protect(2, ENOMEM);
	rc = pk_set(k, PK_DISABLE_ACCESS);
	pk__test_fail_protect(0, 0);
	if (pkt_exact()) {
		CHECK_EQ(rc, 0); /* hardware: no system call to fail */
		EXPECT_FAULT(p, R, k);
		CHECK_EQ(pk_set(k, 0), 0);
	} else {
		CHECK_EQ(rc, -ENOMEM);
		CHECK_EQ(pk_get(k), 0);
	}
	for (int i = 0; i < 5; i++)
		EXPECT_OK(p + i * pg, W);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	for (int i = 0; i < 5; i += 2)
		EXPECT_FAULT(p + i * pg, W, k);
}

/*
 * More keys than the hardware has: on the hardware backend the last one
 * starts evicted (its pages on key 0, narrowed by its rights) and pk_set
 * moves it in, evicting another.  A system call failing anywhere in that
 * move must leave a consistent key: either the new rights hold on every
 * one of its pages, or the call failed and the old ones do.  On the
 * emulation the same calls reprotect pages and undo on failure.
 */
#define EV_KEYS 20

void test_set_evicted_consistent(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(EV_KEYS + 6, RW);
	int keys[EV_KEYS], k, moves = 0, failures = 0;

	for (int i = 0; i < EV_KEYS; i++) {
		keys[i] = pkt_key(0);
		CHECK_EQ(pk_protect_range(p + i * pg, pg, keys[i], 0), 0);
	}
	k = keys[EV_KEYS - 1];
	/* Three separate ranges for k. */
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pk_protect_range(p + (EV_KEYS + 1 + 2 * i) * pg, pg, k,
					  0),
			 0);
	for (int n = 1; n <= 24; n++) {
		unsigned old = (unsigned)pk_get(k);
		unsigned want = old ^ PK_DISABLE_ACCESS;
		int rc, now;

		/* Use every other key: k becomes the least recently used. */
		for (int i = 0; i < EV_KEYS - 1; i++)
			CHECK_EQ(pk_set(keys[i], 0), 0);
		pk__test_fail_protect(n, ENOMEM);
		rc = pk_set(k, want);
		pk__test_fail_protect(0, 0);
		if (rc == 0) {
			moves++;
		} else {
			CHECK_EQ(rc, -ENOMEM);
			failures++;
		}
		now = pk_get(k);
		CHECK_EQ(now, (int)(rc == 0 ? want : old));
		for (int i = 0; i < 3; i++) {
			char *page = p + (EV_KEYS + 1 + 2 * i) * pg;
			if (now & PK_DISABLE_ACCESS) {
				EXPECT_FAULT(page, R, k);
				EXPECT_FAULT(page, W, k);
			} else {
				EXPECT_OK(page, W);
			}
		}
		for (int i = 0; i < EV_KEYS - 1; i++)
			EXPECT_OK(p + i * pg, W);
	}
	/* Hardware: some moves failed halfway and fell back to eviction. */
	CHECK(moves > 0);
	if (!pkt_exact())
		CHECK(failures > 0);
}

void test_pk_mmap(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS), gone = pkt_key(0);
	void *p = NULL;

	CHECK_EQ(pk_key_free(gone), 0);
	CHECK_EQ(pk_mmap(&p, 2 * pg, RW, MAP_PRIVATE, k), 0);
	CHECK(p != NULL);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of((char *)p + pg), k);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(((char *)p)[pg], 0);
	((char *)p)[0] = 1;
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(pk_munmap(p, 2 * pg), 0);
	CHECK_EQ(pk_key_of(p), 0);
	CHECK_EQ(pk_key_free(k), 0);

	p = NULL;
	CHECK_EQ(pk_mmap(&p, pg, RW, MAP_PRIVATE, -1), 0);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_munmap(p, pg), 0);

	p = NULL;
	CHECK_EQ(pk_mmap(NULL, pg, RW, MAP_PRIVATE, 0), -EINVAL);
	CHECK_EQ(pk_mmap(&p, 0, RW, MAP_PRIVATE, 0), -EINVAL);
	CHECK_EQ(pk_mmap(&p, pg, 0x100, MAP_PRIVATE, 0), -EINVAL);
	CHECK_EQ(pk_mmap(&p, pg, RW, MAP_PRIVATE, gone), -EINVAL);
	CHECK_EQ(pk_mmap(&p, pg, RW, MAP_PRIVATE, -2), -EINVAL);
	CHECK_EQ(pk_mmap(&p, pg, RW, 0, 0), -EINVAL); /* neither private nor shared */
	CHECK(p == NULL);
	CHECK_EQ(pk_munmap((char *)p + 1, pg), -EINVAL);
	CHECK_EQ(pk_munmap(p, 0), -EINVAL);
}

/* The kernel's view (smaps "ProtectionKey:") agrees with pk_key_of. */
static int smaps_key(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[256];
	int key = -1, in = 0;

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') &&
		    line[0] != ' ') {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			continue;
		}
		if (in && sscanf(line, "ProtectionKey: %d", &key) == 1)
			break;
	}
	fclose(f);
	return key;
}

void test_key_of_kernel(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(3, RW);
	int k = pkt_key(0), k2 = pkt_key(0);

	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	CHECK_EQ(pk_mprotect(p + 2 * pg, pg, PROT_READ, k2), 0);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + pg), 0);
	CHECK_EQ(pk_key_of(p + 2 * pg), k2);
	if (!pkt_exact()) {
		/* The emulation never keys pages in the kernel: the kernel
		 * shows key 0, or no key at all where it has no PKU. */
		CHECK(smaps_key(p) <= 0);
		CHECK(smaps_key(p + 2 * pg) <= 0);
		return;
	}
	/* Hardware keys are the CPU's numbers, not the library's. */
	CHECK(smaps_key(p) > 0);
	CHECK_EQ(smaps_key(p + pg), 0);
	CHECK(smaps_key(p + 2 * pg) > 0);
	CHECK(smaps_key(p) != smaps_key(p + 2 * pg));
	CHECK_EQ(pk_unprotect_range(p, 3 * pg, 0), 0);
	CHECK_EQ(smaps_key(p), 0);
	CHECK_EQ(smaps_key(p + 2 * pg), 0);
}

void test_range_fork(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, RW);
	int k = pkt_key(PK_DISABLE_WRITE), status;
	pid_t pid;

	CHECK_EQ(pk_protect_range(p, 2 * pg, k, PK_RANGE_PERSIST), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK_EQ(pk_key_of(p), k);
		EXPECT_FAULT(p + pg, W, k);
		CHECK_EQ(munmap(p, 2 * pg), 0);
		CHECK(mmap(p, pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
			   -1, 0) == p);
		EXPECT_FAULT(p, W, k);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(pk_key_of(p + pg), k);
	EXPECT_FAULT(p, W, k);
}

/*
 * The library reads page protections from the kernel (re-keying keeps
 * them).  A fork's child reads its own: here its first page is
 * read-only where the parent's is writable.
 */
void test_range_fork_child_prot(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(1, RW), *q = pkt_map(2, RW);
	int k = pkt_key(0), status;
	pid_t pid;

	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK_EQ(mprotect(q, pg, PROT_READ), 0);
		CHECK_EQ(pk_protect_range(q, 2 * pg, k, 0), 0);
		CHECK_EQ(pk_key_of(q), k);
		EXPECT_OK(q, R);
		EXPECT_FAULT(q, W, -1);
		EXPECT_OK(q + pg, W);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(pk_protect_range(q, 2 * pg, k, 0), 0);
	EXPECT_OK(q, W);
}

/* The descriptor the library keeps on /proc/self/maps, or -1. */
static int maps_fd_of_library(void)
{
	char path[64], link[256];

	for (int fd = 3; fd < 1024; fd++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strstr(link, "/maps"))
			return fd;
	}
	return -1;
}

/*
 * A program may close the library's descriptor, or put another file at
 * its number: protections are still read right, the program's file is
 * left alone.
 */
void test_range_maps_fd_taken(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(1, RW), *q = pkt_map(2, RW);
	int k = pkt_key(0), fd, null;

	/* Kernels without PROCMAP_QUERY (before 6.11): no descriptor is
	 * kept, the text is read each time; the same answers. */
	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	fd = maps_fd_of_library();
	if (fd >= 0)
		CHECK_EQ(close(fd), 0);
	CHECK_EQ(mprotect(q, pg, PROT_READ), 0);
	CHECK_EQ(pk_protect_range(q, pg, k, 0), 0);
	EXPECT_FAULT(q, W, -1);
	null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(null >= 0);
	fd = maps_fd_of_library();
	CHECK_EQ(dup2(null, fd >= 0 ? fd : null), fd >= 0 ? fd : null);
	if (fd < 0)
		fd = dup(null);
	CHECK_EQ(pk_protect_range(q + pg, pg, k, 0), 0);
	EXPECT_OK(q + pg, W);
	CHECK_EQ(mprotect(q, pg, RW), 0);
	CHECK_EQ(pk_protect_range(q, pg, k, 0), 0);
	EXPECT_OK(q, W);
	/* The program's descriptor is still its own. */
	CHECK(fcntl(fd, F_GETFD) >= 0);
	CHECK_EQ(close(fd), 0);
	CHECK_EQ(close(null), 0);
}

/*
 * A program that closes the library's descriptor and gets the number
 * back for a file of its own (here a pipe) keeps that file in a fork's
 * child: the child's fork handler closes only the library's file.
 */
void test_range_maps_fd_fork_keeps_file(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, RW);
	int k = pkt_key(0), fd, pfd[2], status;
	struct stat st;
	pid_t pid;

	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	fd = maps_fd_of_library();
	if (fd >= 0)
		CHECK_EQ(close(fd), 0);
	CHECK_EQ(pipe(pfd), 0);
	if (fd < 0) /* no descriptor kept (before Linux 6.11) */
		fd = pfd[0];
	else if (pfd[0] != fd && pfd[1] != fd)
		CHECK_EQ(dup2(pfd[0], fd), fd);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Before any call of the library, which may open a file at
		 * the lowest free number. */
		CHECK_EQ(fstat(fd, &st), 0);
		CHECK(S_ISFIFO(st.st_mode));
		CHECK_EQ(mprotect(p + pg, pg, PROT_READ), 0);
		CHECK_EQ(pk_protect_range(p + pg, pg, k, 0), 0);
		EXPECT_FAULT(p + pg, W, -1);
		CHECK_EQ(fstat(fd, &st), 0);
		CHECK(S_ISFIFO(st.st_mode));
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(fstat(fd, &st), 0);
	CHECK(S_ISFIFO(st.st_mode));
	CHECK_EQ(pk_protect_range(p + pg, pg, k, 0), 0);
	EXPECT_OK(p + pg, W);
}

/*
 * The number of the library's descriptor now holds another process's
 * mappings (/proc/PID/maps of a child, whose second page is unmapped
 * and third read-only): the library reads this process's, and leaves
 * the program's file alone.
 */
void test_range_maps_fd_other_process(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(3, RW), path[64], c;
	int k = pkt_key(0), fd, other, pfd[2], status;
	struct stat a, b;
	pid_t pid;

	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	CHECK_EQ(pipe(pfd), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Gone with the test, should it fail. */
		CHECK_EQ(prctl(PR_SET_PDEATHSIG, SIGKILL), 0);
		CHECK_EQ(munmap(p + pg, pg), 0);
		CHECK_EQ(mprotect(p + 2 * pg, pg, PROT_READ), 0);
		CHECK_EQ(write(pfd[1], "x", 1), 1);
		for (;;)
			pause();
	}
	CHECK_EQ(read(pfd[0], &c, 1), 1);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	other = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(other >= 0);
	fd = maps_fd_of_library();
	if (fd >= 0 && fd != other)
		CHECK_EQ(dup2(other, fd), fd);
	CHECK_EQ(pk_protect_range(p + pg, 2 * pg, k, 0), 0);
	CHECK_EQ(pk_key_of(p + pg), k);
	CHECK_EQ(pk_key_of(p + 2 * pg), k);
	EXPECT_OK(p + pg, W);
	EXPECT_OK(p + 2 * pg, W);
	CHECK_EQ(pk_unprotect_range(p, 3 * pg, 0), 0);
	EXPECT_OK(p + 2 * pg, W);
	if (fd >= 0) {
		CHECK_EQ(fstat(fd, &a), 0);
		CHECK_EQ(fstat(other, &b), 0);
		CHECK(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
		if (fd != other)
			CHECK_EQ(close(fd), 0);
	}
	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK_EQ(close(other), 0);
	CHECK_EQ(close(pfd[0]), 0);
	CHECK_EQ(close(pfd[1]), 0);
}

/*
 * Lookups while the registry's index is off (the arena full) walk the
 * list, and the next change builds the index anew: the same answers
 * throughout, over enough ranges to fill several of its chunks.
 */
void test_range_index_off(void)
{
	enum { N = 600 };
	size_t pg = pkt_page();
	char *p = pkt_map(2 * N, RW);
	int k[2] = {pkt_key(0), pkt_key(0)};

	for (int i = 0; i < N; i++)
		CHECK_EQ(pk_protect_range(p + 2 * i * pg, pg, k[i & 1], 0), 0);
	for (int round = 0; round < 3; round++) {
		if (round == 1)
			pk__test_rindex_off();
		if (round == 2) /* rebuilt here */
			CHECK_EQ(pk_unprotect_range(p + 2 * pg, pg, 0), 0);
		for (int i = 0; i < N; i++) {
			int want = round == 2 && i == 1 ? 0 : k[i & 1];
			CHECK_EQ(pk_key_of(p + 2 * i * pg), want);
			CHECK_EQ(pk_key_of(p + 2 * i * pg + pg - 1), want);
			CHECK_EQ(pk_key_of(p + (2 * i + 1) * pg), 0);
		}
	}
	CHECK_EQ(pk_key_of(p - 1), 0);
	CHECK_EQ(pk_unprotect_range(p, 2 * N * pg, 0), 0);
	CHECK_EQ(pk_key_of(p + 4 * pg), 0);
}

/*
 * Random assignments over 48 pages, checked against a model of each
 * page's key after every call, and by real accesses now and then.
 */
void test_range_model(void)
{
	enum { N = 48 };
	size_t pg = pkt_page();
	char *p = pkt_map(N, RW);
	int keys[3] = {pkt_key(PK_DISABLE_ACCESS), pkt_key(PK_DISABLE_ACCESS),
		       pkt_key(PK_DISABLE_ACCESS)};
	int model[N] = {0};
	unsigned seed = 12345;

	for (int op = 0; op < 3000; op++) {
		seed = seed * 1103515245u + 12345u;
		int a = (int)(seed >> 8) % N;
		int n = 1 + (int)(seed >> 20) % 8;
		int key = (int)(seed >> 4) % 4; /* 0: unprotect */
		if (a + n > N)
			n = N - a;
		if (key) {
			CHECK_EQ(pk_protect_range(p + a * pg, n * pg, keys[key - 1],
						  PK_NO_CHECK_AUTHORITY), 0);
		} else {
			CHECK_EQ(pk_unprotect_range(p + a * pg, n * pg,
						    PK_NO_CHECK_AUTHORITY), 0);
		}
		for (int i = a; i < a + n; i++)
			model[i] = key ? keys[key - 1] : 0;
		for (int i = 0; i < N; i++)
			if (pk_key_of(p + i * pg) != model[i])
				pkt_fail(__FILE__, __LINE__,
					 "op %d: page %d key %d, model %d", op,
					 i, pk_key_of(p + i * pg), model[i]);
		if (op % 300 == 0)
			for (int i = 0; i < N; i++) {
				if (model[i])
					EXPECT_FAULT(p + i * pg, R, model[i]);
				else
					EXPECT_OK(p + i * pg, W);
			}
	}
}

/*
 * mmap(MAP_FIXED) over part of a PERSIST range that the kernel refuses
 * (a shared writable mapping of a write-sealed memfd: EPERM) fails as
 * it does without the library, with the kernel's errno, and the old
 * mapping and its key are still there.
 */
void test_range_persist_fixed_refused(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, RW), *plain = pkt_map(1, RW), *q;
	int k = pkt_key(0), fd, want;

	p[0] = 'o';
	plain[0] = 'o';
	CHECK_EQ(pk_protect_range(p, 2 * pg, k, PK_RANGE_PERSIST), 0);
	fd = memfd_create("sealed", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)pg), 0);
	CHECK_EQ(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), 0);
	/* What the kernel says where no key is involved. */
	q = mmap(plain, pg, RW, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(q == MAP_FAILED);
	want = errno;
	CHECK_EQ(plain[0], 'o');
	q = mmap(p, pg, RW, MAP_SHARED | MAP_FIXED, fd, 0);
	CHECK(q == MAP_FAILED);
	CHECK_EQ(errno, want);
	CHECK_EQ(p[0], 'o');
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	close(fd);
}

/*
 * Memory-deny-write-execute (prctl PR_SET_MDWE, Linux 6.3) refuses to
 * add PROT_EXEC to a mapping: an executable mapping over a persistent
 * assignment, made PROT_NONE first and then opened, was refused after
 * the old mapping was gone.  The kernel accepts it where no key is
 * involved, so the library must too, and the new pages carry the key.
 */
void test_range_persist_fixed_mdwe(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, RW), *plain = pkt_map(1, RW), *q;
	int k = pkt_key(0);

	CHECK_EQ(pk_protect_range(p, 2 * pg, k, PK_RANGE_PERSIST), 0);
	/* Before Linux 6.3 there is no MDWE: the same mapping without it. */
	(void)prctl(65 /* PR_SET_MDWE */, 1 /* REFUSE_EXEC_GAIN */, 0L, 0L, 0L);
	q = mmap(plain, pg, PROT_READ | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(q == plain); /* what the kernel does without keys */
	q = mmap(p, pg, PROT_READ | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(q == p);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	/* Without keys in the CPU, executable pages stay readable. */
	if (pkt_exact())
		EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(p, R);
}

/* A mapping resized in place keeps its PERSIST assignment. */
void test_range_persist_mremap(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, RW), *q;
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_protect_range(p, 2 * pg, k, PK_RANGE_PERSIST), 0);
	q = mremap(p, 2 * pg, pg, 0);
	CHECK(q == p);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + pg), k); /* unmapped, still assigned */
	CHECK_EQ(munmap(p, pg), 0);
	q = mmap(p, 2 * pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(q == p);
	EXPECT_FAULT(p, R, k);
	EXPECT_FAULT(p + pg, W, k);
	CHECK_EQ(pk_protect_range(p + 1, 0, k, PK_RANGE_ROUND), 0);
	CHECK_EQ(pk_unprotect_range(p, 2 * pg, PK_NO_CHECK_AUTHORITY), 0);
	EXPECT_OK(p, W);
}

/*
 * Pages mremap moves into a persistent assignment take its key, as
 * memory mapped there does, and the assignment stays: found by the
 * fuzzer (tests/fuzz), where the moved page's own assignment replaced
 * the persistent one, so memory mapped there later came up without it.
 */
void test_range_persist_mremap_into(void)
{
	size_t pg = pkt_page();
	char *hole = pkt_map(3, RW), *keyed = pkt_map(1, RW),
	     *plain = pkt_map(1, RW), *q;
	int k = pkt_key(0), m = pkt_key(0);

	CHECK_EQ(munmap(hole, 3 * pg), 0);
	CHECK_EQ(pk_protect_range(hole, 3 * pg, k, PK_RANGE_PERSIST), 0);
	keyed[0] = 'k';
	plain[0] = 'p';
	CHECK_EQ(pk_protect_range(keyed, pg, m, 0), 0);
	q = mremap(keyed, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	CHECK(q == hole);
	q = mremap(plain, pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, hole + pg);
	CHECK(q == hole + pg);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pk_key_of(hole + i * pg), k);
	CHECK_EQ(pk_key_free(m), 0); /* no page carries it */
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(hole, R, k);
	EXPECT_FAULT(hole + pg, R, k);
	EXPECT_FAULT(hole + 2 * pg, W, k);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(hole[0], 'k');
	CHECK_EQ(hole[pg], 'p');
	/* The assignment outlives the moved pages. */
	CHECK_EQ(munmap(hole, 3 * pg), 0);
	q = mmap(hole, 3 * pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(q == hole);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	EXPECT_FAULT(hole + pg, W, k);
	CHECK_EQ(pk_unprotect_range(hole, 3 * pg, PK_NO_CHECK_AUTHORITY), 0);
	EXPECT_OK(hole + pg, W);
}

/*
 * The top of the address space: a range whose rounding would wrap past
 * it is outside user space (it used to pass the check with its end
 * wrapped to 0, and leave a record no call could remove), and so is the
 * top page below 2^47, which Linux never maps (unless the CPU has 5-level
 * paging and user space goes on).
 */
void test_range_top_of_address_space(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(0);
	void *top = (void *)(UINTPTR_MAX - 0xff), *last;

	CHECK_EQ(pk_protect_range(top, 1, k, PK_RANGE_ROUND), -EFAULT);
	CHECK_EQ(pk_protect_range(top, 1, k, PK_RANGE_ROUND | PK_RANGE_PERSIST),
		 -EFAULT);
	CHECK_EQ(pk_unprotect_range(top, 1, PK_RANGE_ROUND), -EFAULT);
	CHECK_EQ(pk_key_of(top), 0);
	last = (void *)(((uintptr_t)1 << 47) - pg);
	if (mmap(last, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			   MAP_FIXED_NOREPLACE, -1, 0) == MAP_FAILED) {
		CHECK_EQ(pk_protect_range(last, pg, k, PK_RANGE_PERSIST),
			 -EFAULT);
	} else {
		munmap(last, pg);
	}
	CHECK_EQ(pk_key_free(k), 0);
}

/*
 * pk_mmap with MAP_FIXED over pages of another key: the new pages are
 * never reachable before their key is set, even while another thread
 * keeps opening and closing the old key (its rights used to reach the
 * new pages, still recorded under it, between the map and the keying).
 * A thread writes into the page with pread(2) all along: the kernel
 * writes only where the page allows it.
 */
static char *fx_page;
static int fx_old, fx_stop, fx_src;

static void *fx_flipper(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&fx_stop, __ATOMIC_RELAXED)) {
		pk_set(fx_old, 0);
		pk_set(fx_old, PK_DISABLE_ACCESS);
	}
	return NULL;
}

static void *fx_writer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&fx_stop, __ATOMIC_RELAXED))
		(void)!pread(fx_src, fx_page, 1, 0);
	return NULL;
}

void test_mmap_fixed_never_open(void)
{
	size_t pg = pkt_page();
	int fresh = pkt_key(PK_DISABLE_ACCESS), mem;
	char path[] = "/tmp/pkeys-test-XXXXXX", c;
	pthread_t f, w;
	void *p = NULL;
	time_t end;
	long rounds = 0;

	fx_old = pkt_key(PK_DISABLE_ACCESS);
	CHECK((fx_src = mkstemp(path)) >= 0);
	CHECK_EQ(write(fx_src, "B", 1), 1);
	unlink(path);
	CHECK((mem = open("/proc/self/mem", O_RDONLY)) >= 0);
	CHECK_EQ(pk_mmap(&p, pg, RW, MAP_PRIVATE, fx_old), 0);
	fx_page = p;
	CHECK_EQ(pthread_create(&f, NULL, fx_flipper, NULL), 0);
	CHECK_EQ(pthread_create(&w, NULL, fx_writer, NULL), 0);
	end = time(NULL) + 2;
	while (time(NULL) < end) {
		p = fx_page;
		CHECK_EQ(pk_mmap(&p, pg, RW, MAP_PRIVATE | MAP_FIXED, fx_old), 0);
		p = fx_page;
		CHECK_EQ(pk_mmap(&p, pg, RW, MAP_PRIVATE | MAP_FIXED, fresh), 0);
		c = 0;
		CHECK_EQ(pread(mem, &c, 1, (off_t)(uintptr_t)fx_page), 1);
		if (c == 'B')
			pkt_fail(__FILE__, __LINE__,
				 "round %ld: a new page of a key closed in every "
				 "thread was written to during pk_mmap",
				 rounds);
		rounds++;
	}
	__atomic_store_n(&fx_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(f, NULL), 0);
	CHECK_EQ(pthread_join(w, NULL), 0);
	close(mem);
	close(fx_src);
}

/*
 * mmap(2) with MAP_FIXED that the kernel refuses (a shared writable
 * mapping of a read-only file: EACCES) leaves the old mapping in place,
 * also while persistent assignments exist, elsewhere or over it (the
 * library maps PROT_NONE first there, and used to lose the old mapping
 * when opening the new one failed).
 */
void test_mmap_fixed_failure_keeps_old(void)
{
	size_t pg = pkt_page();
	char path[] = "/tmp/pkeys-test-XXXXXX";
	int k = pkt_key(0), fd;
	char *elsewhere = pkt_map(1, RW), *old;

	CHECK((fd = mkstemp(path)) >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)pg), 0);
	close(fd);
	CHECK((fd = open(path, O_RDONLY)) >= 0);
	unlink(path);
	CHECK_EQ(pk_protect_range(elsewhere, pg, k, PK_RANGE_PERSIST), 0);
	for (int over = 0; over < 2; over++) {
		old = pkt_map(1, RW);
		strcpy(old, "precious");
		if (over)
			CHECK_EQ(pk_protect_range(old, pg, 0, PK_RANGE_PERSIST),
				 0);
		errno = 0;
		CHECK(mmap(old, pg, RW, MAP_SHARED | MAP_FIXED, fd, 0) ==
		      MAP_FAILED);
		CHECK_EQ(errno, EACCES);
		CHECK(strcmp(old, "precious") == 0);
		CHECK_EQ(pk_unprotect_range(old, pg, 0), 0);
	}
	close(fd);
}

/*
 * mremap(old, 0, len, MREMAP_MAYMOVE) duplicates a shared mapping, and
 * the kernel gives the copy the original's key (hardware) or narrowed
 * protection (emulation): the copy is keyed like the original, opens
 * and closes with it, and keeps the key busy.
 */
void test_mremap_duplicate(void)
{
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);
	char *a = mmap(NULL, pg, RW, MAP_SHARED | MAP_ANONYMOUS, -1, 0), *b;

	CHECK(a != MAP_FAILED);
	CHECK_EQ(pk_mprotect(a, pg, RW, k), 0);
	b = mremap(a, 0, pg, MREMAP_MAYMOVE);
	CHECK(b != MAP_FAILED && b != a);
	CHECK_EQ(pk_key_of(b), k);
	EXPECT_FAULT(b, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	b[0] = 'x';
	CHECK_EQ(a[0], 'x');
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(munmap(a, pg), 0);
	CHECK_EQ(pk_key_free(k), -EBUSY);
	EXPECT_FAULT(b, W, k);
	CHECK_EQ(munmap(b, pg), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

/*
 * pk_key_of reads the registry without the lock while another thread
 * keeps splitting and merging ranges around a page whose key never
 * changes: that page always answers its key, and the others one of the
 * keys they take turns with.
 */
static char *kc_pages;
static int kc_keys[2], kc_stop;

static void *kc_writer(void *arg)
{
	size_t pg = pkt_page();

	(void)arg;
	for (unsigned i = 0; !__atomic_load_n(&kc_stop, __ATOMIC_RELAXED); i++) {
		size_t at = (i % 7) * pg, len = (1 + i % 3) * pg;
		if (at + len > 8 * pg)
			len = 8 * pg - at;
		CHECK_EQ(pk_protect_range(kc_pages + at, len, kc_keys[i & 1],
					  PK_NO_CHECK_AUTHORITY), 0);
		if (i % 5 == 0)
			CHECK_EQ(pk_unprotect_range(kc_pages + at, len,
						    PK_NO_CHECK_AUTHORITY),
				 0);
	}
	return NULL;
}

void test_key_of_concurrent(void)
{
	size_t pg = pkt_page();
	int stable;
	pthread_t t;
	time_t end;
	long reads = 0;

	kc_pages = pkt_map(17, PROT_READ | PROT_WRITE);
	kc_keys[0] = pkt_key(0);
	kc_keys[1] = pkt_key(0);
	stable = pkt_key(0);
	/* Pages 0-7 change; page 8 keeps its key; 9-16 stay unkeyed. */
	CHECK_EQ(pk_protect_range(kc_pages + 8 * pg, pg, stable, 0), 0);
	CHECK_EQ(pthread_create(&t, NULL, kc_writer, NULL), 0);
	end = time(NULL) + 2;
	while (time(NULL) < end) {
		for (int i = 0; i < 17; i++) {
			int k = pk_key_of(kc_pages + (size_t)i * pg);
			if (i == 8)
				CHECK_EQ(k, stable);
			else if (i > 8)
				CHECK_EQ(k, 0);
			else
				CHECK(k == 0 || k == kc_keys[0] || k == kc_keys[1]);
		}
		reads++;
	}
	__atomic_store_n(&kc_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(reads > 0);
}

/*
 * The same over enough ranges to split and merge the registry's index
 * chunks and grow its top array while lookups run: every other page of
 * 2,400 is keyed and then freed again in bursts, and a page between two
 * bursts keeps its key throughout.
 */
enum { KM_PAGES = 2400 };
static char *km_pages;
static int km_key, km_stop;

static void *km_writer(void *arg)
{
	size_t pg = pkt_page();

	(void)arg;
	while (!__atomic_load_n(&km_stop, __ATOMIC_RELAXED)) {
		for (int i = 0; i < KM_PAGES / 2; i += 2)
			CHECK_EQ(pk_protect_range(km_pages + (size_t)i * pg, pg,
						  km_key, PK_NO_CHECK_AUTHORITY),
				 0);
		CHECK_EQ(pk_unprotect_range(km_pages, KM_PAGES / 2 * pg,
					    PK_NO_CHECK_AUTHORITY),
			 0);
	}
	return NULL;
}

void test_key_of_concurrent_many(void)
{
	size_t pg = pkt_page();
	int stable;
	pthread_t t;
	time_t end;

	km_pages = pkt_map(KM_PAGES, PROT_READ | PROT_WRITE);
	km_key = pkt_key(0);
	stable = pkt_key(0);
	/* The upper half: keyed every other page, fixed; one page apart. */
	for (int i = KM_PAGES / 2; i < KM_PAGES; i += 2)
		CHECK_EQ(pk_protect_range(km_pages + (size_t)i * pg, pg,
					  i == KM_PAGES / 2 ? stable : km_key, 0),
			 0);
	CHECK_EQ(pthread_create(&t, NULL, km_writer, NULL), 0);
	end = time(NULL) + 2;
	while (time(NULL) < end)
		for (int i = 0; i < KM_PAGES; i += 7) {
			int k = pk_key_of(km_pages + (size_t)i * pg);

			if (i == KM_PAGES / 2)
				CHECK_EQ(k, stable);
			else if (i > KM_PAGES / 2)
				CHECK_EQ(k, i % 2 ? 0 : km_key);
			else
				CHECK(k == 0 || (i % 2 == 0 && k == km_key));
		}
	__atomic_store_n(&km_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
}

/*
 * Lookups while the index is switched off and built anew, again and
 * again, from a fresh top array: each build fills top slots that were
 * never written before (zero memory), while pk_key_of follows them
 * without the lock.  On a weakly ordered CPU a lookup that saw a slot's
 * count before the slot itself would follow a NULL chunk.  1,200 fixed
 * ranges, so that a build fills some twenty top slots.
 */
static int kr_stop, kr_builds;

static void *kr_writer(void *arg)
{
	char *scratch = arg;

	while (!__atomic_load_n(&kr_stop, __ATOMIC_RELAXED) &&
	       kr_builds < 1500) {
		pk__test_rindex_off();
		/* The next change builds the index anew. */
		CHECK_EQ(pk_protect_range(scratch, pkt_page(), km_key,
					  PK_NO_CHECK_AUTHORITY), 0);
		CHECK_EQ(pk_unprotect_range(scratch, pkt_page(),
					    PK_NO_CHECK_AUTHORITY), 0);
		__atomic_store_n(&kr_builds, kr_builds + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

void test_key_of_concurrent_rebuild(void)
{
	size_t pg = pkt_page();
	pthread_t t;
	time_t end;
	long reads = 0;

	km_pages = pkt_map(KM_PAGES + 1, PROT_READ | PROT_WRITE);
	km_key = pkt_key(0);
	for (int i = 0; i < KM_PAGES; i += 2)
		CHECK_EQ(pk_protect_range(km_pages + (size_t)i * pg, pg,
					  km_key, 0), 0);
	CHECK_EQ(pthread_create(&t, NULL, kr_writer,
				km_pages + (size_t)KM_PAGES * pg), 0);
	end = time(NULL) + 2;
	while (time(NULL) < end &&
	       __atomic_load_n(&kr_builds, __ATOMIC_RELAXED) < 1500) {
		for (int i = 0; i < KM_PAGES; i += 5)
			CHECK_EQ(pk_key_of(km_pages + (size_t)i * pg),
				 i % 2 ? 0 : km_key);
		reads++;
	}
	__atomic_store_n(&kr_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(reads > 0 && kr_builds > 0);
}

/*
 * A range over the memory the library runs on (its own code and data,
 * libc's, the loader's, the vDSO): those pages are left out, so closing
 * the key does not stop the library, libc or clock_gettime.  The pages
 * of the program's own around them are keyed as asked.
 */
struct object_span {
	const void *inside;
	uintptr_t lo, hi;	/* first segment to last */
	uintptr_t seg[8][2];	/* each segment, page-rounded */
	int nseg;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct object_span *o = ctx;
	uintptr_t lo = UINTPTR_MAX, hi = 0, a = (uintptr_t)o->inside;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		if (info->dlpi_addr + ph->p_vaddr < lo)
			lo = info->dlpi_addr + ph->p_vaddr;
		if (info->dlpi_addr + ph->p_vaddr + ph->p_memsz > hi)
			hi = info->dlpi_addr + ph->p_vaddr + ph->p_memsz;
	}
	if (a < lo || a >= hi)
		return 0;
	o->lo = lo & ~(pkt_page() - 1);
	o->hi = (hi + pkt_page() - 1) & ~(pkt_page() - 1);
	/* The gaps between segments may hold others' mappings. */
	for (int i = 0; i < info->dlpi_phnum && o->nseg < 8; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t s = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD)
			continue;
		o->seg[o->nseg][0] = s & ~(pkt_page() - 1);
		o->seg[o->nseg][1] = (s + ph->p_memsz + pkt_page() - 1) &
				     ~(pkt_page() - 1);
		o->nseg++;
	}
	return 1;
}

/*
 * The kernel's data pages for the vDSO ([vvar]: its clock functions
 * read them) are the library's too, though no object lists them: the
 * library finds them in /proc/self/maps at the first range call.  Here
 * that first call is the one over them.
 */
void test_range_over_vvar(void)
{
	uintptr_t lo = 0, hi = 0, s, e;
	char line[512], name[64];
	struct timespec ts;
	FILE *f = fopen("/proc/self/maps", "r");
	int k = pkt_key(0);

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %63s", &s, &e, name) ==
			    3 &&
		    strcmp(name, "[vvar]") == 0)
			lo = s, hi = e;
	fclose(f);
	if (!lo)
		pkt_skip("no [vvar] mapping in this process");
	CHECK_EQ(pk_protect_range((void *)lo, hi - lo, k,
				  PK_NO_CHECK_AUTHORITY), 0);
	for (uintptr_t a = lo; a < hi; a += pkt_page())
		CHECK_EQ(pk_key_of((void *)a), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	CHECK_EQ(pk_set(k, 0), 0);
}

void test_range_over_library(void)
{
	int k = pkt_key(0);
	char *mine = pkt_map(1, RW);
	struct object_span lib = {.inside = (const void *)pk_set};
	struct object_span libc = {.inside = (const void *)getpid};
	uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
	struct timespec ts;

	CHECK(dl_iterate_phdr(find_object, &lib) == 1);
	CHECK(dl_iterate_phdr(find_object, &libc) == 1);
	CHECK_EQ(pk_protect_range((void *)lib.lo, lib.hi - lib.lo, k,
				  PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_protect_range((void *)libc.lo, libc.hi - libc.lo, k,
				  PK_NO_CHECK_AUTHORITY), 0);
	if (vdso)
		CHECK_EQ(pk_protect_range((void *)vdso, pkt_page(), k,
					  PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_protect_range(mine, pkt_page(), k, 0), 0);
	for (int i = 0; i < lib.nseg; i++)
		for (uintptr_t a = lib.seg[i][0]; a < lib.seg[i][1];
		     a += pkt_page())
			CHECK_EQ(pk_key_of((void *)a), 0);
	CHECK_EQ(pk_key_of((void *)libc.lo), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	/* The library, libc and the vDSO still work. */
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_key_free(pkt_key(0)), 0);
	CHECK_EQ(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	EXPECT_FAULT(mine, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
}
