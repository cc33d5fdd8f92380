/* SPDX-License-Identifier: MIT */
/* Enforcement: each fault checked by address, key and access kind. */
#include <unistd.h>

#include "pktest.h"

void test_write_disabled(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(0);

	p[100] = 'x';
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	EXPECT_FAULT(p + 100, W, k);
	EXPECT_OK(p + 100, R);
	CHECK_EQ(p[100], 'x');
}

void test_access_disabled(void)
{
	char *p = pkt_map(2, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, 2 * pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	EXPECT_FAULT(p, R, k);
	EXPECT_FAULT(p + pkt_page() + 7, W, k);
	EXPECT_FAULT(p + 2 * pkt_page() - 1, R, k);
}

void test_open_close(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(pk_set(k, 0), 0);
	p[0] = 'a';
	CHECK_EQ(p[0], 'a');
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	CHECK_EQ(p[0], 'a');
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(pk_set(k, 0), 0);
	p[0] = 'b';
	CHECK_EQ(p[0], 'b');
}

void test_prot_combine(void)
{
	char *ro = pkt_map(1, PROT_READ | PROT_WRITE);
	char *none = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(0);

	/* Full rights never widen what the page protection allows. */
	CHECK_EQ(pk_mprotect(ro, pkt_page(), PROT_READ, k), 0);
	CHECK_EQ(pk_mprotect(none, pkt_page(), PROT_NONE, k), 0);
	EXPECT_OK(ro, R);
	EXPECT_FAULT(ro, W, -1);
	EXPECT_FAULT(none, R, -1);
	EXPECT_FAULT(none, W, -1);
	/* Closing and reopening the key gives back the page's own protection. */
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(ro, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(ro, R);
	EXPECT_FAULT(ro, W, -1);
}

/* The kernel's own accesses obey the key: EFAULT, as on hardware. */
void test_kernel_access(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(0), fds[2];

	memcpy(p, "secret", 6);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pipe(fds), 0);
	CHECK_EQ(write(fds[1], "input!", 6), 6);

	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(read(fds[0], p, 6), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(write(fds[1], p, 6), -1);
	CHECK_EQ(errno, EFAULT);

	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	CHECK_EQ(read(fds[0], p, 6), -1);
	CHECK_EQ(errno, EFAULT);
	CHECK_EQ(write(fds[1], p, 6), 6); /* the kernel only reads p */

	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(read(fds[0], p, 12), 12);
	CHECK(memcmp(p, "input!secret", 12) == 0);
}

void test_multi_region(void)
{
	char *p = pkt_map(7, PROT_READ | PROT_WRITE);
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);

	/* Pages 0, 2-3 and 6 carry the key; the pages between do not. */
	CHECK_EQ(pk_mprotect(p, pg, PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pk_mprotect(p + 2 * pg, 2 * pg, PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pk_mprotect(p + 6 * pg, pg, PROT_READ, k), 0);
	EXPECT_FAULT(p, W, k);
	EXPECT_OK(p + pg, W);
	EXPECT_FAULT(p + 3 * pg, R, k);
	EXPECT_OK(p + 4 * pg, W);
	EXPECT_FAULT(p + 6 * pg, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(p, W);
	EXPECT_OK(p + 2 * pg, W);
	EXPECT_OK(p + 3 * pg, W);
	EXPECT_OK(p + 6 * pg, R);
	EXPECT_FAULT(p + 6 * pg, W, -1);
}

void test_key0_default(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE,
			     PK_KEY_DEFAULT), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_key_free(k), 0);
	EXPECT_OK(p, W);
}

void test_keep_key_minus1(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ, -1), 0);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(p, R);
	EXPECT_FAULT(p, W, -1);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, -1), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	EXPECT_FAULT(p, W, k);
}

/* Plain mprotect keeps the key, on hardware and in the emulation. */
void test_plain_mprotect_keeps_key(void)
{
	char *p = pkt_map(3, PROT_READ | PROT_WRITE);
	size_t pg = pkt_page();
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p + pg, pg, PROT_READ, k), 0);
	CHECK_EQ(mprotect(p, 3 * pg, PROT_READ | PROT_WRITE), 0);
	EXPECT_OK(p, W);
	EXPECT_FAULT(p + pg, W, k);
	EXPECT_FAULT(p + pg, R, k);
	EXPECT_OK(p + 2 * pg, W);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(p + pg, W);
}

/*
 * Execute-only memory: on hardware keys the kernel gives a PROT_EXEC
 * mapping a key of its own (x86: one it allocates; POWER: key 2), so a
 * read faults with SEGV_PKUERR; that is never the library's key.  On the
 * emulation without kernel keys the page reads (page tables cannot say
 * execute-only), and where the kernel has keys the read faults the same.
 */
void test_exec_only_not_a_key(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	struct pk_fault f;
	int faulted;

	p[0] = 0;
	CHECK_EQ(mprotect(p, pkt_page(), PROT_EXEC), 0);
	faulted = pkt_access(p, R, 0, &f);
	if (pkt_exact())
		CHECK(faulted);
	if (faulted) {
		CHECK(f.addr == p);
		CHECK_EQ(f.access, R);
		CHECK_EQ(f.key, -1);
	}
	CHECK_EQ(pk_key_of(p), 0);
}
