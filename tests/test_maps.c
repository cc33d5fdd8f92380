/* SPDX-License-Identifier: MIT */
/* Unmapped, replaced and moved keyed memory: no stale state survives. */
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pktest.h"

void test_munmap_forgets(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(1, PROT_READ | PROT_WRITE), *q;
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, pg, PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(munmap(p, pg), 0);
	/* Reuse the address: the new mapping must not feel the old key. */
	q = mmap(p, pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(q == p);
	EXPECT_OK(q, W);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_OK(q, W);
	CHECK_EQ(pk_key_free(k), 0);
	EXPECT_OK(q, W);
}

void test_mmap_fixed_forgets(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, PROT_READ | PROT_WRITE), *q;
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, 2 * pg, PROT_READ | PROT_WRITE, k), 0);
	q = mmap(p, pg, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	CHECK(q == p);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_OK(q, W);
	EXPECT_FAULT(p + pg, R, k);
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(munmap(p + pg, pg), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_mremap_moves_key(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, PROT_READ | PROT_WRITE);
	char *dst = pkt_map(2, PROT_NONE), *q, *fresh;
	int k = pkt_key(0);

	p[pg] = 'm';
	CHECK_EQ(pk_mprotect(p, 2 * pg, PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	q = mremap(p, 2 * pg, 2 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(q == dst);
	EXPECT_FAULT(q + pg, R, k);
	/* The old address is free; a mapping there is not keyed. */
	fresh = mmap(p, 2 * pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	CHECK(fresh == p);
	EXPECT_OK(fresh, W);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(q[pg], 'm');
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	EXPECT_FAULT(q, W, k);
	EXPECT_OK(fresh + pg, W);
}

void test_partial_munmap(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(3, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, 3 * pg, PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(munmap(p + pg, pg), 0);
	EXPECT_FAULT(p, R, k);
	EXPECT_FAULT(p + 2 * pg, W, k);
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(munmap(p, pg), 0);
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(munmap(p + 2 * pg, pg), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

int pkt_other_munmap(void *addr, size_t len);
int pkt_other_mprotect(void *addr, size_t len, int prot);

/* Calls from a library that was linked against libc alone are seen too. */
void test_other_library_calls(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(2, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, 2 * pg, PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pkt_other_mprotect(p, 2 * pg, PROT_READ | PROT_WRITE), 0);
	EXPECT_FAULT(p + pg, W, k);
	CHECK_EQ(pkt_other_munmap(p, 2 * pg), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

/* Whether the kernel maps the page at p (msync(2) answers ENOMEM if not). */
static int mapped(const char *p)
{
	return msync((void *)p, pkt_page(), MS_ASYNC) == 0;
}

/*
 * After a MREMAP_FIXED move of src to dst (n pages), whatever the kernel
 * did: a marked source page is either still there or at the same offset
 * in dst, with its mark and key k; a target page still mapped where no
 * source page came has its own 'T' and k2; no unmapped page keeps a
 * key; both
 * keys change rights and stop accesses where they should, and free.
 */
static void check_move(char *src, char *dst, int n, const char *mark,
		       const int *keys, int k, int k2)
{
	size_t pg = pkt_page();

	for (int i = 0; i < n; i++) {
		char *s = src + i * pg, *d = dst + i * pg;

		if (mark[i] && !mapped(s)) { /* moved */
			CHECK(mapped(d));
			CHECK_EQ(*d, mark[i]);
			CHECK_EQ(pk_key_of(d), keys[i]);
			continue;
		}
		if (mark[i]) { /* stayed */
			CHECK_EQ(*s, mark[i]);
			CHECK_EQ(pk_key_of(s), keys[i]);
		}
		if (mapped(d)) {
			CHECK_EQ(*d, 'T');
			CHECK_EQ(pk_key_of(d), k2);
		}
		if (!mapped(s))
			CHECK_EQ(pk_key_of(s), 0);
		if (!mapped(d))
			CHECK_EQ(pk_key_of(d), 0);
	}
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_set(k2, PK_DISABLE_ACCESS), 0);
	for (int i = 0; i < n; i++) {
		char *s = src + i * pg, *d = dst + i * pg;

		if (mapped(s) && pk_key_of(s) == k)
			EXPECT_FAULT(s, R, k);
		if (mapped(d) && (pk_key_of(d) == k || pk_key_of(d) == k2))
			EXPECT_FAULT(d, W, pk_key_of(d));
	}
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(pk_set(k2, 0), 0);
}

/*
 * mremap(MREMAP_FIXED) of a source made of several mappings with a gap:
 * Linux 6.17 and later move every mapping, leaving the target's pages
 * in the source's gap where they were; earlier kernels unmap the target
 * and then fail (EFAULT).  Whichever happened, the library's view
 * follows the kernel's.
 */
void test_mremap_gappy_source(void)
{
	size_t pg = pkt_page();
	char *src = pkt_map(4, PROT_READ | PROT_WRITE);
	char *dst = pkt_map(4, PROT_READ | PROT_WRITE), *q;
	int k = pkt_key(0), k2 = pkt_key(0);
	const char mark[4] = {'a', 0, 'c', 'd'};

	CHECK_EQ(munmap(src + pg, pg), 0);
	CHECK_EQ(pk_protect_range(src, pg, k, 0), 0);
	CHECK_EQ(pk_protect_range(src + 2 * pg, 2 * pg, k, 0), 0);
	CHECK_EQ(pk_protect_range(dst, 4 * pg, k2, 0), 0);
	for (int i = 0; i < 4; i++) {
		if (mark[i])
			src[i * pg] = mark[i];
		dst[i * pg] = 'T';
	}
	q = mremap(src, 4 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(q == dst || (q == MAP_FAILED && errno == EFAULT));
	check_move(src, dst, 4, mark, (const int[]){k, 0, k, k}, k, k2);
	CHECK_EQ(munmap(src, 4 * pg), 0);
	CHECK_EQ(munmap(dst, 4 * pg), 0);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_key_free(k2), 0);
}

/*
 * A move that stops part way: the source's last mapping is sealed
 * (mseal(2), Linux 6.10), which no mremap may move.  Linux 6.17 and
 * later move the first mapping and then fail; earlier kernels fail
 * first.  Either way the library follows.
 */
void test_mremap_partial_move(void)
{
	size_t pg = pkt_page();
	char *src = pkt_map(3, PROT_READ | PROT_WRITE);
	char *dst = pkt_map(3, PROT_READ | PROT_WRITE), *q;
	int k = pkt_key(0), k2 = pkt_key(0), sealed = pkt_key(0);
	const char mark[3] = {'a', 0, 'c'};
	int sealed_ok;

	/* The sealed page takes a key of its own: the emulation could not
	 * change its protection for k afterwards (mseal forbids it). */
	CHECK_EQ(munmap(src + pg, pg), 0);
	CHECK_EQ(pk_protect_range(src, pg, k, 0), 0);
	CHECK_EQ(pk_protect_range(src + 2 * pg, pg, sealed, 0), 0);
	CHECK_EQ(pk_protect_range(dst, 3 * pg, k2, 0), 0);
	for (int i = 0; i < 3; i++) {
		if (mark[i])
			src[i * pg] = mark[i];
		dst[i * pg] = 'T';
	}
	/* Before 6.10 there is no seal, and no kernel that moves part. */
	sealed_ok = syscall(462 /* mseal */, src + 2 * pg, pg, 0) == 0;
	CHECK(sealed_ok || errno == ENOSYS);
	q = mremap(src, 3 * pg, 3 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	CHECK(q == MAP_FAILED);
	check_move(src, dst, 3, mark, (const int[]){k, 0, sealed}, k, k2);
	/* A sealed page stays, keyed: unmap the rest. */
	CHECK_EQ(munmap(src, sealed_ok ? pg : 3 * pg), 0);
	CHECK_EQ(munmap(dst, 3 * pg), 0);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_key_free(k2), 0);
}
