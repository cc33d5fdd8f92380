/* Bad input: each call returns its documented error and changes nothing. */
#include <stdint.h>

#include "pktest.h"

void test_bad_alloc(void)
{
	int n = pk_keys_available();

	CHECK_EQ(pk_key_alloc(1, 0), -EINVAL);
	CHECK_EQ(pk_key_alloc(0, 4), -EINVAL);
	CHECK_EQ(pk_key_alloc(0, ~0u), -EINVAL);
	CHECK_EQ(pk_keys_available(), n);
}

void test_bad_free(void)
{
	int k = pkt_key(0);

	CHECK_EQ(pk_key_free(0), -EINVAL);
	CHECK_EQ(pk_key_free(-1), -EINVAL);
	CHECK_EQ(pk_key_free(16), -EINVAL);
	CHECK_EQ(pk_key_free(1000), -EINVAL);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_key_free(k), -EINVAL);
}

void test_busy_free(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS), n;

	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	n = pk_keys_available();
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(pk_keys_available(), n);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, 0), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_bad_set_get(void)
{
	int k = pkt_key(PK_DISABLE_WRITE), gone = pkt_key(0);

	CHECK_EQ(pk_key_free(gone), 0);
	CHECK_EQ(pk_set(k, 4), -EINVAL);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS | 8), -EINVAL);
	CHECK_EQ(pk_get(k), PK_DISABLE_WRITE);
	CHECK_EQ(pk_set(gone, 0), -EINVAL);
	CHECK_EQ(pk_get(gone), -EINVAL);
	CHECK_EQ(pk_set(PK_KEY_DEFAULT, PK_DISABLE_ACCESS), -EINVAL);
	CHECK_EQ(pk_get(PK_KEY_DEFAULT), 0);
	CHECK_EQ(pk_set(-1, 0), -EINVAL);
	CHECK_EQ(pk_set(16, 0), -EINVAL);
	CHECK_EQ(pk_get(-1), -EINVAL);
	CHECK_EQ(pk_get(99), -EINVAL);
	CHECK_EQ(pk_get(k), PK_DISABLE_WRITE);
}

void test_bad_mprotect(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(3, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS), other = pkt_key(0);
	int never = pkt_key(0), rw = PROT_READ | PROT_WRITE;

	CHECK_EQ(pk_key_free(never), 0);
	CHECK_EQ(pk_mprotect(p, pg, rw, k), 0);
	/* Page 2 is unmapped: a range reaching it is refused whole. */
	CHECK_EQ(munmap(p + 2 * pg, pg), 0);

	static const struct {
		size_t off;
		size_t len;
		int prot, key, err;
	} bad[] = {
		{1, 4096, PROT_READ, 0, EINVAL},	/* unaligned */
		{0, SIZE_MAX, PROT_READ, 0, EINVAL},	/* wraps */
		{0, SIZE_MAX - 8192, PROT_READ, 0, EINVAL},
		{0, 4096, 0x100, 0, EINVAL},		/* unknown prot */
		{0, 4096, PROT_READ | 0x1000000, 0, EINVAL},
		{0, 4096, PROT_READ, -2, EINVAL},
		{0, 4096, PROT_READ, 16, EINVAL},
		{0, 4096, PROT_READ, 1 << 20, EINVAL},
		{0, 3 * 4096, PROT_READ, 0, ENOMEM},	/* hole at page 2 */
		{0, 3 * 4096, PROT_READ, -1, ENOMEM},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int key = bad[i].key == 0 ? other : bad[i].key;
		size_t len = bad[i].len == 4096 ? pg
			     : bad[i].len == 3 * 4096 ? 3 * pg : bad[i].len;
		if (bad[i].key == -1)
			key = -1;
		if (pk_mprotect(p + bad[i].off, len, bad[i].prot, key) !=
		    -bad[i].err)
			pkt_fail(__FILE__, __LINE__, "case %zu: got %d, want %d",
				 i, pk_mprotect(p + bad[i].off, len,
						bad[i].prot, key),
				 -bad[i].err);
		/* Nothing changed: page 0 keyed and closed, page 1 open. */
		EXPECT_FAULT(p, R, k);
		EXPECT_OK(p + pg, W);
	}
	CHECK_EQ(pk_mprotect(NULL, pg, PROT_READ, other), -EINVAL);
	CHECK_EQ(pk_mprotect(p, pg, PROT_READ, never), -EINVAL);
	CHECK_EQ(pk_mprotect(p + 2 * pg, pg, PROT_READ, other), -ENOMEM);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(pk_key_free(k), -EBUSY);
}

void test_len_zero(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, 0, PROT_NONE, k), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_mprotect(p, 0, PROT_NONE, k), -EINVAL);
}
