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
#include "backend/select.h"
#include "core/keys.h"
#include "core/threads.h"

/* How many times key appears in the domain (it may be named twice). */
static unsigned times(const struct pk_domain_entry *d, int n, int key)
{
	unsigned c = 0;

	for (int i = 0; i < n; i++)
		c += d[i].key == key;
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
 * Entry takes no lock.  The thread counts itself a user of each key in
 * its own record, then checks that no pk_key_free is deciding on one;
 * pk_key_free sets its flag, then reads every record's counts.  All four
 * accesses are sequentially consistent, so one of the two sees the
 * other: a key is never freed under a domain.
 */
static int domain_enter(const struct pk_domain_entry *d, int n,
			struct pk_domain_saved *saved)
{
	const struct pk__backend *b = pk__ready();
	struct pk__thread *t = pk__thread_state;
	int keys[PK_DOMAIN_MAX], i, rc, busy = 0;
	unsigned rights[PK_DOMAIN_MAX];

	if (!d || !saved || n < 1 || n > PK_DOMAIN_MAX)
		return -EINVAL;
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
			if (t->domain_refs[keys[i]] + times(d, n, keys[i]) > 255)
				return -EBUSY;
	for (;;) {
		int freeing = 0, gone = 0;

		for (i = 0; i < n; i++)
			__atomic_store_n(&t->domain_refs[keys[i]],
					 (uint8_t)(t->domain_refs[keys[i]] + 1),
					 __ATOMIC_SEQ_CST);
		for (i = 0; i < n; i++) {
			freeing |= __atomic_load_n(&pk__keys_freeing[keys[i]],
						   __ATOMIC_SEQ_CST);
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
	const struct pk__backend *b = pk__ready();
	struct pk__thread *t = pk__thread_state;
	int keys[PK_DOMAIN_MAX], i, rc, n;
	unsigned rights[PK_DOMAIN_MAX];

	if (!saved || saved->n < 1 || saved->n > PK_DOMAIN_MAX || !b || !t)
		return -EINVAL;
	n = saved->n;
	for (i = 0; i < n; i++) {
		keys[i] = saved->keys[i];
		rights[i] = saved->rights[i];
		if ((unsigned)keys[i] - 1 >= PK__KEYS - 1 ||
		    !t->domain_refs[keys[i]] || (rights[i] & ~PK__RIGHTS_MASK))
			return -EINVAL;
	}
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
