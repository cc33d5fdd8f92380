/* SPDX-License-Identifier: MIT */
/*
 * Domains: a set of (key, rights) entered in one step and left by
 * restoring what was there, in nested scopes.  On hardware entering a
 * domain is one register write, whatever its size.  While a thread is
 * inside a domain, its keys cannot be freed: pk_key_free says -EBUSY.
 */
#include <errno.h>
#include <sched.h>

#include "core/errors.h"
#include "backend/hw_fast.h"
#include "backend/select.h"
#include "core/keys.h"
#include "core/threads.h"

/* How many times key appears in the domain (it may be named twice). */
static unsigned times(const int *keys, int n, int key)
{
	unsigned c = 0;

	for (int i = 0; i < n; i++)
		c += keys[i] == key;
	return c;
}

static void unref(struct pk__thread *t, const int *keys, int n)
{
	for (int i = 0; i < n; i++)
		__atomic_store_n(&t->domain_refs[keys[i]],
				 (uint8_t)(t->domain_refs[keys[i]] - 1),
				 __ATOMIC_RELAXED);
}

/*
 * The hardware fast path (backend/hw_fast.h): every key holds a
 * hardware key and none has ever lacked one.  One pass per key checks
 * the entry, counts the thread a user of the key (as domain_enter
 * below), saves and writes the record and gathers the register's bits;
 * then one register write.  Returns 1, with nothing changed, whenever
 * it does not apply: bad input (the general path says what is wrong),
 * a key named twice (its record would be saved after its own write),
 * a count at its limit, a key being freed.
 */
static int enter_resident(struct pk__thread *t, const struct pk_domain_entry *d,
			  int n, struct pk_domain_saved *saved)
{
	pk__hw_reg clear = 0, set = 0;
	unsigned freed = __atomic_load_n(&pk__keys_freed, __ATOMIC_ACQUIRE);
	int i;

	if (!pk__hw_unmoved())
		return 1;
	for (i = 0; i < n; i++) {
		int k = d[i].key, hw;
		unsigned r = d[i].rights, old;
		pk__hw_reg m;
		uint8_t refs;

		/* Key 0 never holds a hardware key: !hw below. */
		if ((unsigned)k >= PK__KEYS || r > PK__RIGHTS_MASK)
			break;
		hw = pk__hw_slot(k);
		m = pk__hw_bits(hw, PK__RIGHTS_MASK);
		refs = (uint8_t)(t->domain_refs[k] + 1);
		if (!hw || (clear & m) || !refs)
			break;
		__atomic_store_n(&t->domain_refs[k], refs, __ATOMIC_SEQ_CST);
		clear |= m;
		set |= pk__hw_bits(hw, r);
		old = __atomic_load_n(&t->rights[k], __ATOMIC_RELAXED);
		if (old == PK__RIGHTS_UNSET)
			old = pk__key_init_rights(k);
		saved->keys[i] = k;
		saved->rights[i] = (unsigned char)old;
		__atomic_store_n(&t->rights[k], (uint8_t)r, __ATOMIC_RELAXED);
	}
	/*
	 * After the counts (sequentially consistent, as below): a free
	 * deciding now, on any key, sends this call the general way; so
	 * does one completed since the keys' entries were read (an entry
	 * read before it may name a key now gone).
	 */
	if (__builtin_expect(i == n &&
				     !__atomic_load_n(&pk__key_freeing,
						      __ATOMIC_SEQ_CST) &&
				     __atomic_load_n(&pk__keys_freed,
						     __ATOMIC_RELAXED) == freed &&
				     pk__hw_apply(t, clear, set) == 0,
			     1)) {
		saved->n = n;
		return 0;
	}
	while (i-- > 0) {
		int k = saved->keys[i];

		__atomic_store_n(&t->rights[k], saved->rights[i],
				 __ATOMIC_RELAXED);
		__atomic_store_n(&t->domain_refs[k],
				 (uint8_t)(t->domain_refs[k] - 1),
				 __ATOMIC_RELAXED);
	}
	return 1;
}

/*
 * The same for leave: the keys are this thread's (it counts as their
 * user), the rights go back, then the counts come down (not before: a
 * key freed before the register's write would have its hardware key's
 * next owner's bits written).  A key named twice goes the general way,
 * which checks that the thread entered it as often.
 */
static int leave_resident(struct pk__thread *t,
			  const struct pk_domain_saved *saved, int n)
{
	pk__hw_reg clear = 0, set = 0;
	uint8_t old[PK_DOMAIN_MAX];
	int i;

	if (!pk__hw_unmoved())
		return 1;
	for (i = 0; i < n; i++) {
		int k = saved->keys[i], hw;
		unsigned r = saved->rights[i];
		pk__hw_reg m;

		if ((unsigned)k >= PK__KEYS || r > PK__RIGHTS_MASK)
			break;
		hw = pk__hw_slot(k);
		m = pk__hw_bits(hw, PK__RIGHTS_MASK);
		if (!hw || (clear & m) || !t->domain_refs[k])
			break;
		clear |= m;
		set |= pk__hw_bits(hw, r);
		old[i] = __atomic_load_n(&t->rights[k], __ATOMIC_RELAXED);
		__atomic_store_n(&t->rights[k], (uint8_t)r, __ATOMIC_RELAXED);
	}
	if (__builtin_expect(i < n || pk__hw_apply(t, clear, set), 0)) {
		while (i-- > 0)
			__atomic_store_n(&t->rights[saved->keys[i]], old[i],
					 __ATOMIC_RELAXED);
		return 1;
	}
	for (i = 0; i < n; i++) {
		int k = saved->keys[i];

		__atomic_store_n(&t->domain_refs[k],
				 (uint8_t)(t->domain_refs[k] - 1),
				 __ATOMIC_RELAXED);
	}
	return 0;
}

/*
 * Entry takes no lock.  The thread counts itself a user of each key in
 * its own record, then checks that no pk_key_free is deciding on one;
 * pk_key_free names its key in pk__key_freeing, then reads every
 * record's counts.  All these accesses are sequentially consistent, so
 * one of the two sees the other: a key is never freed under a domain.
 */
static int domain_enter(const struct pk_domain_entry *d, int n,
			struct pk_domain_saved *saved)
{
	const struct pk__backend *b;
	struct pk__thread *t = pk__thread_state;
	int keys[PK_DOMAIN_MAX], i, rc, busy = 0;
	unsigned rights[PK_DOMAIN_MAX];

	if (!d || !saved || n < 1 || n > PK_DOMAIN_MAX)
		return -EINVAL;
	if (t && enter_resident(t, d, n, saved) == 0)
		return 0;
	b = pk__ready();
	for (i = 0; i < n; i++) {
		keys[i] = d[i].key;
		rights[i] = d[i].rights;
		if ((rights[i] & ~PK__RIGHTS_MASK) ||
		    (unsigned)keys[i] - 1 >= PK__KEYS - 1)
			return -EINVAL;
	}
	if (!b)
		return pk_init() ? pk_init() : -EINVAL;
	if (!t && !(t = pk__self()))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		busy |= t->domain_refs[keys[i]] > 255 - PK_DOMAIN_MAX;
	if (busy) /* near the count's limit: count exactly */
		for (i = 0; i < n; i++)
			if (t->domain_refs[keys[i]] + times(keys, n, keys[i]) > 255)
				return -EBUSY;
	for (;;) {
		int freeing = 0, gone = 0, f;

		for (i = 0; i < n; i++)
			__atomic_store_n(&t->domain_refs[keys[i]],
					 (uint8_t)(t->domain_refs[keys[i]] + 1),
					 __ATOMIC_SEQ_CST);
		f = __atomic_load_n(&pk__key_freeing, __ATOMIC_SEQ_CST);
		for (i = 0; i < n; i++) {
			freeing |= keys[i] == f;
			gone |= !pk__key_allocated(keys[i]);
		}
		if (!freeing && !gone)
			break;
		unref(t, keys, n);
		if (gone)
			return -EINVAL;
		/* A pk_key_free is deciding under its lock (never this
		 * thread's: it blocks signals): back off until it has. */
		sched_yield();
	}
	/* What leave restores: the thread's rights, from its record. */
	for (i = 0; i < n; i++) {
		saved->keys[i] = keys[i];
		saved->rights[i] = (unsigned char)pk__rights_of(t, keys[i]);
	}
	rc = b->set_many(keys, rights, n);
	if (rc) {
		unref(t, keys, n);
		return rc;
	}
	saved->n = n;
	return 0;
}

/* The keys cannot have been freed: this thread counts as their user. */
static int domain_leave(const struct pk_domain_saved *saved)
{
	const struct pk__backend *b;
	struct pk__thread *t = pk__thread_state;
	int keys[PK_DOMAIN_MAX], i, rc, n;
	unsigned rights[PK_DOMAIN_MAX];

	if (!saved || saved->n < 1 || saved->n > PK_DOMAIN_MAX || !t)
		return -EINVAL;
	n = saved->n;
	if (leave_resident(t, saved, n) == 0)
		return 0;
	if (!(b = pk__ready()))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		keys[i] = saved->keys[i];
		rights[i] = saved->rights[i];
		if ((unsigned)keys[i] - 1 >= PK__KEYS - 1 ||
		    (rights[i] & ~PK__RIGHTS_MASK))
			return -EINVAL;
	}
	/* Counted out once per naming: entered at least that often. */
	for (i = 0; i < n; i++)
		if (t->domain_refs[keys[i]] < times(keys, n, keys[i]))
			return -EINVAL;
	rc = b->set_many(keys, rights, n);
	if (rc)
		return rc;
	unref(t, keys, n);
	return 0;
}

/* Failures go through pk__api_err (core/errors.c). */
int pk_domain_enter(const struct pk_domain_entry *d, int n,
		    struct pk_domain_saved *saved)
{
	return pk__api_err(PK__CALL_DOMAIN, domain_enter(d, n, saved));
}

int pk_domain_leave(const struct pk_domain_saved *saved)
{
	return pk__api_err(PK__CALL_DOMAIN, domain_leave(saved));
}
