/* SPDX-License-Identifier: MIT */
/*
 * Domains: a set of (key, rights) entered in one step and left by
 * restoring what was there, in nested scopes.  On hardware entering a
 * domain is one register write, whatever its size.  While a thread is
 * inside a domain, its keys cannot be freed: pk_key_free says -EBUSY.
 */
#include <errno.h>
#include <sched.h>

#include "api/domain_memo.h"
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
 * a count at its limit (lim: 255 less the memo's depth), a key being
 * freed.  Remembers the domain when it may change the memo (own).
 */
static int enter_resident(struct pk__thread *t, const struct pk_domain_entry *d,
			  int n, struct pk_domain_saved *saved, int own,
			  unsigned lim)
{
	pk__hw_reg clear = 0, set = 0;
	uint64_t frees = PK__FREES_DONE(
		__atomic_load_n(&pk__key_frees, __ATOMIC_ACQUIRE));
	unsigned most = 0; /* the highest count raised */
	unsigned seq = __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE);
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
		if (!hw || (clear & m) || t->domain_refs[k] >= lim)
			break;
		__atomic_store_n(&t->domain_refs[k], refs, __ATOMIC_SEQ_CST);
		most = refs > most ? refs : most;
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
				     __atomic_load_n(&pk__key_frees,
						     __ATOMIC_SEQ_CST) == frees &&
				     pk__hw_apply(t, clear, set) == 0,
			     1)) {
		saved->n = n;
		if (own)
			memo_offer(t, d, n, frees, clear, set, most);
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
	pk__hw_put_back(t, seq);
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
	unsigned seq = __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE);
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
		pk__hw_put_back(t, seq);
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
 * pk_key_free names its key in pk__key_frees, then reads every
 * record's counts.  All these accesses are sequentially consistent, so
 * one of the two sees the other: a key is never freed under a domain.
 */
static int enter_general(struct pk__thread *t, const struct pk_domain_entry *d, int n,
	      struct pk_domain_saved *saved, int own)
{
	const struct pk__backend *b;
	int keys[PK_DOMAIN_MAX], i, rc, busy = 0;
	unsigned rights[PK_DOMAIN_MAX], lim = 255;

	if (!d || !saved || n < 1 || n > PK_DOMAIN_MAX)
		return -EINVAL;
	if (t) {
		if (own)
			memo_spill(t);
		lim -= t->memo.depth;
		if (enter_resident(t, d, n, saved, own, lim) == 0)
			return 0;
	}
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
		busy |= t->domain_refs[keys[i]] + PK_DOMAIN_MAX > (int)lim;
	if (busy) /* near the count's limit: count exactly */
		for (i = 0; i < n; i++)
			if (t->domain_refs[keys[i]] + times(keys, n, keys[i]) > lim)
				return -EBUSY;
	for (;;) {
		int freeing = 0, gone = 0, f;

		for (i = 0; i < n; i++)
			__atomic_store_n(&t->domain_refs[keys[i]],
					 (uint8_t)(t->domain_refs[keys[i]] + 1),
					 __ATOMIC_SEQ_CST);
		f = PK__FREES_KEY(
			__atomic_load_n(&pk__key_frees, __ATOMIC_SEQ_CST));
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
	if (own) /* counts went up */
		memo_room(t);
	saved->n = n;
	return 0;
}

/*
 * With the memo taken when it may change (see domain_memo.h); failures
 * go through pk__api_err (core/errors.c).
 */
static __attribute__((noinline)) int
domain_enter(const struct pk_domain_entry *d, int n,
	     struct pk_domain_saved *saved)
{
	struct pk__thread *t = pk__thread_state;
	int rc;

	if (t && memo_take(t)) {
		rc = enter_general(t, d, n, saved, 1);
		memo_give(t);
	} else {
		rc = enter_general(t, d, n, saved, 0);
	}
	return pk__api_err(PK__CALL_DOMAIN, rc);
}

/* The keys cannot have been freed: this thread counts as their user. */
static int leave_general(struct pk__thread *t,
			 const struct pk_domain_saved *saved, int own)
{
	const struct pk__backend *b;
	int keys[PK_DOMAIN_MAX], i, rc, n;
	unsigned rights[PK_DOMAIN_MAX];

	if (!saved || saved->n < 1 || saved->n > PK_DOMAIN_MAX || !t)
		return -EINVAL;
	n = saved->n;
	if (own)
		memo_spill(t);
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

static __attribute__((noinline)) int
domain_leave(const struct pk_domain_saved *saved)
{
	struct pk__thread *t = pk__thread_state;
	int rc;

	/* Counts only come down: room stays safe. */
	if (t && memo_take(t)) {
		rc = leave_general(t, saved, 1);
		memo_give(t);
	} else {
		rc = leave_general(t, saved, 0);
	}
	return pk__api_err(PK__CALL_DOMAIN, rc);
}

/* The memo's cases first (api/domain_memo.h), in a frame of their own. */
int pk_domain_enter(const struct pk_domain_entry *d, int n,
		    struct pk_domain_saved *saved)
{
	struct pk__thread *t = pk__thread_state;

	if (__builtin_expect(t != NULL, 1) && d && saved)
		return memo_enter(t, d, n, saved);
	return domain_enter(d, n, saved);
}

int pk_domain_leave(const struct pk_domain_saved *saved)
{
	struct pk__thread *t = pk__thread_state;

	if (__builtin_expect(t != NULL, 1) && saved)
		return memo_leave(t, saved, saved->n);
	return domain_leave(saved);
}
