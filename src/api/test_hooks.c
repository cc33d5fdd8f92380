/* SPDX-License-Identifier: MIT */
/*
 * Test hooks, in builds with BUILD_TESTING only: where the sealed state
 * lies (core/seal.h), so that a test can check that a stray write there
 * faults and changes nothing.
 */
#ifdef PKEYS_TEST_HOOKS
#include <stdint.h>

#include "backend/hw_fast.h"
#include "core/arena.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/rindex.h"
#include "os/defer.h"
#include "pkeys.h"

PK_API void *pk__test_sealed(int what, int key);
PK_API void pk__test_rindex_off(void);
PK_API void pk__test_under_lock(void (*fn)(void *), void *arg);
PK_API int pk__test_lock_defers(void);
PK_API void pk__test_lock_release_window(void (*fn)(void));

/* fn(arg) inside the library's lock, as the library's own code runs
 * there (core/lock.h): for tests of signals that arrive meanwhile. */
void pk__test_under_lock(void (*fn)(void *), void *arg)
{
	pk__lock_take();
	fn(arg);
	pk__lock_drop();
}

/* Whether the lock holds signals back rather than blocking them. */
int pk__test_lock_defers(void)
{
	return pk__defer_enabled();
}

/* fn() once, in the next release of the lock that held signals back,
 * as a signal arriving there would run (core/lock.h). */
void pk__test_lock_release_window(void (*fn)(void))
{
	__atomic_store_n(&pk__lock_test_window, fn, __ATOMIC_RELEASE);
}

/* The registry's index off, as when it cannot grow (core/rindex.h). */
void pk__test_rindex_off(void)
{
	pk__lock_take();
	pk__rindex_switch_off();
	pk__lock_drop();
}

/*
 * 0: key's name in the key table; 1: whether key is allocated
 * there; 2: key's hardware binding (NULL where this build has no
 * hardware backend); 3: the first page of the library's arena, its
 * guard (NULL before the arena exists).
 */
void *pk__test_sealed(int what, int key)
{
	uintptr_t start, end;

	if (what == 3) {
		pk__arena_bounds(&start, &end);
		return (void *)start;
	}
	if (key <= 0 || key >= PK__KEYS)
		return NULL;
	switch (what) {
	case 0:
		return pk__keys[key].name;
	case 1:
		return &pk__keys[key].allocated;
	case 2:
#if PK__ARCH_KEYS && defined(SYS_pkey_alloc)
		return &pk__hw_slot_of[key];
#else
		return NULL;
#endif
	}
	return NULL;
}
#endif
