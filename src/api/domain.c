/*
 * Domains: a set of (key, rights) entered in one step and left by
 * restoring what was there, in nested scopes.  On hardware entering a
 * domain is one register write, whatever its size.  While a thread is inside a
 * domain, its keys cannot be freed: pk_key_free says -EBUSY.
 */
#include <errno.h>
#include <sched.h>

#include "api/errors.h"
#include "backend/select.h"
#include "core/keys.h"
#include "core/threads.h"

static int valid(int key, unsigned rights)
{
	if (rights & ~PK__RIGHTS_MASK)
		return 0;
	return pk__key_allocated(key);
}

static void release(const int *keys, int n)
{
	for (int i = 0; i < n; i++)
		__atomic_sub_fetch(&pk__keys[keys[i]].domain_users, 1,
				   __ATOMIC_RELAXED);
}

/* How many times key appears in the domain (it may be named twice). */
static unsigned times(const struct pk_domain_entry *d, int n, int key)
{
	unsigned c = 0;

	for (int i = 0; i < n; i++)
		c += d[i].key == key;
	return c;
}

static int domain_enter(const struct pk_domain_entry *d, int n,
			struct pk_domain_saved *saved)
{
	const struct pk__backend *b;
	int keys[PK_DOMAIN_MAX], i, rc;
	unsigned rights[PK_DOMAIN_MAX];
	struct pk__thread *t;

	if (!d || !saved || n < 1 || n > PK_DOMAIN_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!valid(d[i].key, d[i].rights))
			return -EINVAL;
	b = pk__backend_peek();
	if (!b)
		return pk_init() ? pk_init() : -EINVAL;
	t = pk__thread_state;
	for (i = 0; i < n; i++) {
		if (t && t->domain_refs[d[i].key] + times(d, n, d[i].key) > 255)
			return -EBUSY;
		keys[i] = d[i].key;
		rights[i] = d[i].rights;
	}
	/*
	 * Count this thread a user of the keys before using them, then
	 * check that no pk_key_free is deciding on one (it sets the flag,
	 * then reads the count): a key is never freed under a domain.
	 */
	for (;;) {
		int freeing = 0;

		for (i = 0; i < n; i++)
			__atomic_add_fetch(&pk__keys[keys[i]].domain_users, 1,
					   __ATOMIC_SEQ_CST);
		for (i = 0; i < n; i++) {
			freeing |= __atomic_load_n(&pk__keys[keys[i]].freeing,
						   __ATOMIC_SEQ_CST);
			if (!pk__key_allocated(keys[i])) {
				release(keys, n);
				return -EINVAL;
			}
		}
		if (!freeing)
			break;
		/* A pk_key_free is deciding under its lock (never this
		 * thread's: it blocks signals): back off until it has. */
		release(keys, n);
		sched_yield();
	}
	/* What leave restores: the thread's rights, from its record. */
	for (i = 0; i < n; i++) {
		saved->keys[i] = keys[i];
		saved->rights[i] = (unsigned char)(t ? pk__rights_of(t, keys[i])
						      : (unsigned)b->get(keys[i]));
	}
	rc = b->set_many(keys, rights, n);
	if (rc) {
		release(keys, n);
		return rc;
	}
	saved->n = n;
	t = pk__thread_state;
	for (i = 0; i < n; i++)
		t->domain_refs[keys[i]]++;
	return 0;
}

static int domain_leave(const struct pk_domain_saved *saved)
{
	const struct pk__backend *b = pk__backend_peek();
	struct pk__thread *t = pk__thread_state;
	int keys[PK_DOMAIN_MAX], i, rc;
	unsigned rights[PK_DOMAIN_MAX];

	if (!saved || saved->n < 1 || saved->n > PK_DOMAIN_MAX || !b || !t)
		return -EINVAL;
	for (i = 0; i < saved->n; i++) {
		if (!pk__key_allocated(saved->keys[i]) ||
		    !t->domain_refs[saved->keys[i]])
			return -EINVAL;
		keys[i] = saved->keys[i];
		rights[i] = saved->rights[i];
	}
	rc = b->set_many(keys, rights, saved->n);
	if (rc)
		return rc;
	for (i = 0; i < saved->n; i++)
		t->domain_refs[keys[i]]--;
	release(keys, saved->n);
	return 0;
}

/* Failures go through pk__api_err (api/errors.c). */
int pk_domain_enter(const struct pk_domain_entry *d, int n,
		    struct pk_domain_saved *saved)
{
	return pk__api_err(PK__CALL_DOMAIN, domain_enter(d, n, saved));
}

int pk_domain_leave(const struct pk_domain_saved *saved)
{
	return pk__api_err(PK__CALL_DOMAIN, domain_leave(saved));
}
