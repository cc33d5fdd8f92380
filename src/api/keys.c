/* SPDX-License-Identifier: MIT */
/*
 * The key calls: allocating and freeing keys, and changing rights (the
 * calling thread's, or every thread's).  Every check happens before the
 * first change, so a failing call changes nothing.
 */
#include <errno.h>
#include <stdint.h>

#include "api/api.h"
#include "core/errors.h"
#include "backend/hw_fast.h"
#include "backend/select.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/registry.h"
#include "core/threads.h"
#include "core/arena.h"


/*
 * Every thread, existing or future, starts with a new key's initial
 * rights: records forget what they held for a key number freed before,
 * and the backend makes it so in every thread before this returns.
 */
static int key_alloc(unsigned flags, unsigned rights)
{
	const struct pk__backend *b = pk__ready();
	int key, rc;

	if (!b)
		return pk_init();
	if (flags || (rights & ~PK__RIGHTS_MASK))
		return -EINVAL;
	pk__lock_take();
	if (!pk__self_locked() || pk__keys_ready()) {
		pk__lock_drop();
		return -ENOMEM;
	}
	key = b->key_alloc(rights);
	if (key > 0) {
		pk__records_write_begin();
		pk__key_new(key, rights);
		for (struct pk__thread *t = pk__threads; t; t = t->next)
			__atomic_store_n(&t->rights[key], PK__RIGHTS_UNSET,
					 __ATOMIC_RELEASE);
		pk__threads_recount();
		rc = b->set_all(key);
		if (rc) {
			pk__key_gone(key);
			b->key_free(key);
			key = rc;
		}
		pk__records_write_end();
	}
	pk__lock_drop();
	return key;
}

static int key_free(int key)
{
	const struct pk__backend *b = pk__ready();
	int rc;

	if (!b)
		return pk_init();
	pk__lock_take();
	if (!pk__key_allocated(key))
		rc = -EINVAL;
	else if (pk__reg_key_in_use(key))
		rc = -EBUSY;
	else {
		/*
		 * Domain entry takes no lock: it counts itself a user in
		 * its record, then checks this flag.  Set the flag, then
		 * read every record: one of the two sees the other
		 * (domain.c).
		 */
		uint64_t done = PK__FREES_DONE(pk__key_frees);

		__atomic_store_n(&pk__key_frees, done | (unsigned)key,
				 __ATOMIC_SEQ_CST);
		if (pk__threads_in_domain(key))
			rc = -EBUSY;
		else if ((rc = b->key_free(key)) == 0)
			pk__key_gone(key);
		if (rc == 0)
			done += (uint64_t)1 << 32;
		__atomic_store_n(&pk__key_frees, done, __ATOMIC_RELEASE);
	}
	pk__lock_drop();
	return rc;
}

/*
 * Every thread's rights for key, changed before this returns.  The old
 * rights are kept so that a failure puts every record back.
 */
static int set_all(int key, unsigned rights)
{
	const struct pk__backend *b = pk__ready();
	uint8_t *old, old_init;
	int i, n, rc;

	if (!b)
		return pk_init();
	if (rights & ~PK__RIGHTS_MASK)
		return -EINVAL;
	if (key == PK_KEY_DEFAULT)
		return rights ? -EINVAL : 0;
	pk__lock_take();
	if (!pk__key_allocated(key)) {
		pk__lock_drop();
		return -EINVAL;
	}
	old = pk__arena_scratch((size_t)pk__threads_n + 1);
	if (!old) {
		pk__lock_drop();
		return -ENOMEM;
	}
	n = 0;
	pk__records_write_begin();
	for (struct pk__thread *t = pk__threads; t; t = t->next) {
		old[n++] = t->rights[key];
		__atomic_store_n(&t->rights[key], (uint8_t)rights,
				 __ATOMIC_RELEASE);
	}
	old_init = pk__key_init_rights(key);
	/*
	 * Threads without a record hold the initial rights, now these too:
	 * every thread holds them, however many there are, so the count of
	 * unknown threads (a walk of /proc) does not matter here.
	 */
	pk__key_set_init_rights(key, rights);
	rc = b->set_all(key);
	if (rc) {
		/*
		 * A thread that set its own rights meanwhile (the hardware
		 * backend's pk_set takes no lock) keeps what it set.
		 */
		i = 0;
		for (struct pk__thread *t = pk__threads; t; t = t->next) {
			uint8_t now = (uint8_t)rights;

			__atomic_compare_exchange_n(&t->rights[key], &now,
						    old[i++], 0,
						    __ATOMIC_RELEASE,
						    __ATOMIC_RELAXED);
		}
		pk__key_set_init_rights(key, old_init);
		b->set_all(key);
	}
	pk__records_write_end();
	pk__lock_drop();
	return rc;
}

static int set(int key, unsigned rights)
{
	const struct pk__backend *b;

	if (rights & ~PK__RIGHTS_MASK)
		return -EINVAL;
	/* The default key works on every machine, with or without backend. */
	if (key == PK_KEY_DEFAULT)
		return rights ? -EINVAL : 0;
	b = pk__ready();
	if (!b)
		return pk_init();
	if (!pk__key_allocated(key))
		return -EINVAL;
	return b->set(key, rights);
}

static int get(int key)
{
	const struct pk__backend *b;

	if (key == PK_KEY_DEFAULT)
		return 0;
	b = pk__ready();
	if (!b)
		return pk_init();
	if (!pk__key_allocated(key))
		return -EINVAL;
	return b->get(key);
}

void (*pk__key_allocated_hook)(void);

/*
 * The public calls: each failure goes through pk__api_err, which keeps
 * the errors their man pages list and maps the others (core/errors.c).
 */
int pk_key_alloc(unsigned flags, unsigned rights)
{
	int key = key_alloc(flags, rights);
	void (*hook)(void);

	if (key > 0) {
		pk__fault_first_key();
		hook = __atomic_load_n(&pk__key_allocated_hook,
				       __ATOMIC_ACQUIRE);
		if (hook)
			hook();
	}
	return pk__api_err(PK__CALL_KEY_ALLOC, key);
}

int pk_key_free(int key)
{
	return pk__api_err(PK__CALL_KEY_FREE, key_free(key));
}

int pk_set_all(int key, unsigned rights)
{
	return pk__api_err(PK__CALL_SET_ALL, set_all(key, rights));
}

/*
 * pk_set and pk_get are the hot paths: once a backend is chosen, a
 * valid call is a few checks and the backend's call (on hardware, for a
 * key holding a hardware key, one register read and write).
 */
__attribute__((noinline, cold)) static int set_slow(int key, unsigned rights)
{
	return pk__api_err(PK__CALL_SET, set(key, rights));
}

int pk_set(int key, unsigned rights)
{
	const struct pk__backend *b;

	/* The backend checks that key is allocated (off its fast path). */
	if (__builtin_expect((rights & ~PK__RIGHTS_MASK) ||
				     (unsigned)key - 1 >= PK__KEYS - 1, 0))
		return set_slow(key, rights);
	/* A resident key on hardware: no call through the backend (a
	 * key holding a hardware key is allocated). */
	if (__builtin_expect(pk__hw_set_resident(key, rights) == 0, 1))
		return 0;
	/* The backend's errors are already those pk_set(3) lists. */
	b = __atomic_load_n(&pk__ready_backend, __ATOMIC_ACQUIRE);
	return b->set(key, rights);
}

__attribute__((noinline, cold)) static int get_slow(int key)
{
	return pk__api_err(PK__CALL_SET, get(key));
}

/*
 * Relaxed: the backend struct is constant, and get reads only what the
 * calling thread's own calls wrote (its record, its register).
 */
int pk_get(int key)
{
	unsigned i = (unsigned)key - 1; /* unsigned: a free index */
	int rights;

	/* The backend checks that key is allocated: only EINVAL, unmapped. */
	if (__builtin_expect(i >= PK__KEYS - 1, 0))
		return get_slow(key);
	/* A resident key on hardware: no call through the backend. */
	if (__builtin_expect(pk__hw_get_resident_index(i, &rights), 1))
		return rights;
	return __atomic_load_n(&pk__ready_backend, __ATOMIC_RELAXED)->get(key);
}
