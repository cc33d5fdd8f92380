/* SPDX-License-Identifier: MIT */
/*
 * The library's tables of keys and hardware key bindings are read-only
 * outside its calls (SECURITY.md, "The library's own state"): a stray
 * write from the program there faults at the address written, as a
 * write fault of no key, and changes nothing.
 */
#include "pktest.h"

/* Test hook (src/api/test_hooks.c): where a piece of sealed state is. */
void *pk__test_sealed(int what, int key);

static const char *const what_name[] = {
	"name in the key table", "allocated flag in the key table",
	"hardware key binding"};

/* Every sealed place of key k: readable, and a write faults. */
static int expect_sealed(int k)
{
	int checked = 0;

	for (int what = 0; what < 3; what++) {
		char *a = pk__test_sealed(what, k);

		if (!a) {
			/* Only the binding may be missing (no hardware
			 * backend in this build). */
			CHECK_EQ(what, 2);
			continue;
		}
		EXPECT_OK(a, R);
		EXPECT_FAULT(a, W, -1);
		checked++;
	}
	return checked;
}

void test_state_sealed(void)
{
	size_t page = pkt_page();
	char *p = pkt_map(2, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_WRITE), k2;

	for (int what = 0; what < 3; what++)
		printf("  %s at %p\n", what_name[what], pk__test_sealed(what, k));
	CHECK(expect_sealed(k) >= 2);
	/* Nothing changed, and the calls that write the tables still work. */
	CHECK_EQ(pk_mprotect(p, page, PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_get(k), PK_DISABLE_WRITE);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(pk_key_set_name(k, "sealed"), 0);
	CHECK_EQ(pk_set_all(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	k2 = pkt_key(0);
	CHECK_EQ(pk_mprotect(p + page, page, PROT_READ | PROT_WRITE, k2), 0);
	EXPECT_OK(p + page, W);
	/* And after they ran, the tables are sealed again. */
	expect_sealed(k);
	expect_sealed(k2);
	CHECK_EQ(pk_mprotect(p, 2 * page, PROT_READ | PROT_WRITE, 0), 0);
	CHECK_EQ(pk_key_free(k), 0);
	expect_sealed(k);
}

/*
 * The library's own memory (thread records, the registry) is not sealed
 * but starts behind an inaccessible page: an overflow running up out of
 * the mapping below stops there.
 */
void test_state_arena_guard(void)
{
	int k = pkt_key(0);
	char *guard;

	(void)k; /* the arena exists once a key does */
	guard = pk__test_sealed(3, 0);
	CHECK(guard != NULL);
	EXPECT_FAULT(guard, R, -1);
	EXPECT_FAULT(guard + pkt_page() - 1, W, -1);
}
