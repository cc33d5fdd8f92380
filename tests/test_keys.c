/* Keys: allocation, rights, counts, exhaustion, backend facts. */
#include <stdlib.h>

#include "pktest.h"

void test_alloc_rights(void)
{
	static const unsigned rights[] = {0, PK_DISABLE_WRITE, PK_DISABLE_ACCESS,
					  PK_DISABLE_ACCESS | PK_DISABLE_WRITE};

	for (size_t i = 0; i < sizeof(rights) / sizeof(rights[0]); i++) {
		int k = pkt_key(rights[i]);
		CHECK(k >= 1 && k < 16);
		CHECK_EQ(pk_get(k), rights[i]);
		CHECK_EQ(pk_set(k, 0), 0);
		CHECK_EQ(pk_get(k), 0);
		CHECK_EQ(pk_key_free(k), 0);
	}
	CHECK_EQ(pk_get(PK_KEY_DEFAULT), 0);
	CHECK_EQ(pk_set(PK_KEY_DEFAULT, 0), 0);
}

void test_available_counts(void)
{
	int n = pk_keys_available(), k;

	CHECK(n >= 1);
	k = pkt_key(0);
	CHECK_EQ(pk_keys_available(), n - 1);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_keys_available(), n);
}

void test_exhaustion(void)
{
	int n = pk_keys_available(), got = 0, keys[64], k, seen = 0;

	while ((k = pk_key_alloc(0, PK_DISABLE_ACCESS)) > 0) {
		CHECK(got < 64);
		CHECK(k < 16);
		CHECK(!(seen & (1 << k)));
		seen |= 1 << k;
		keys[got++] = k;
	}
	CHECK_EQ(k, -ENOSPC);
	CHECK_EQ(got, n);
	CHECK_EQ(pk_keys_available(), 0);
	/* A failed allocation changed nothing: the keys still work. */
	CHECK_EQ(pk_get(keys[0]), PK_DISABLE_ACCESS);
	for (int i = 0; i < got; i++)
		CHECK_EQ(pk_key_free(keys[i]), 0);
	CHECK_EQ(pk_keys_available(), n);
	k = pkt_key(0);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_backend_info(void)
{
	struct pk_info info;
	const char *env = getenv("PKEYS_BACKEND");

	CHECK_EQ(pk_info(&info), 0);
	CHECK_EQ(pk_info(NULL), -EINVAL);
	CHECK(strcmp(info.backend, pk_backend_name()) == 0);
	CHECK(info.reason && info.reason[0]);
	CHECK(info.guarantee && info.guarantee[0]);
	CHECK_EQ(info.keys_total, 16);
	CHECK_EQ(info.keys_available, pk_keys_available());
	CHECK_EQ(pk_version(), PK_VERSION);
	if (env && strcmp(env, "hw") == 0) {
		CHECK(strcmp(info.backend, "x86_pku") == 0);
		CHECK(info.cpu_pku && info.cpu_ospke && info.kernel_pkeys);
	} else {
		CHECK(strcmp(info.backend, "emu") == 0);
	}
	/* The kernel cannot hand out keys the CPU cannot enforce. */
	if (!info.cpu_ospke)
		CHECK(!info.kernel_pkeys);
}
