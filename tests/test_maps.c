/* Unmapped, replaced and moved keyed memory: no stale state survives. */
#include <sys/mman.h>

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
