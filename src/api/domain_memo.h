/* SPDX-License-Identifier: MIT */
/*
 * The domain memo (core/threads.h): the last domain a thread entered on
 * the hardware fast path, with the register's bits worked out.  A
 * thread that enters the same domain again (same keys, same rights,
 * same order) compares each entry with the memo's copy and writes the
 * register once; leaving it restores the saved rights through the
 * memo's bits.  Such entries are counted by one number, depth, instead
 * of one count per key.  Included by api/domain.c only.
 *
 * The rules that keep it right:
 * - made only after a successful entry on the hardware fast path, while
 *   depth is 0, so every key held a hardware key and none had ever
 *   lacked one (on the second such entry in a row of a domain with the
 *   same first entry and size: memo_offer); it stays good while no key is freed (pk__key_frees as
 *   when made) and none moves (pk__hw_apply refuses once one has);
 * - every other path first moves depth into domain_refs (memo_spill),
 *   and sets room after raising counts (memo_room): a key's count is
 *   domain_refs plus depth, never above 255;
 * - pk_key_free reads depth before the counts (core/threads.c);
 * - a signal handler that interrupts a memo operation of its thread
 *   (busy) leaves the memo alone: its domains are counted in
 *   domain_refs, against a limit lowered by depth.  A handler must leave
 *   the domains it enters (as with any nesting).
 */
#ifndef PK_API_DOMAIN_MEMO_H
#define PK_API_DOMAIN_MEMO_H

#include <string.h>

#include <pkeys.h>

#include "backend/hw_fast.h"
#include "core/keys.h"
#include "core/threads.h"

/*
 * The general paths (api/domain.c), where memo_enter and memo_leave end
 * when the memo does not apply: as tail calls, so that the fast paths
 * keep nothing across a call.
 */
static int domain_enter(const struct pk_domain_entry *d, int n,
			struct pk_domain_saved *saved);
static int domain_leave(const struct pk_domain_saved *saved);

_Static_assert(PK__MEMO_MAX == PK_DOMAIN_MAX, "a memo holds any domain");
_Static_assert(sizeof(struct pk_domain_entry) == sizeof(uint64_t),
	       "an entry compares as one word");

/*
 * Whether this call may change the memo (then memo_give after): not
 * when it runs in a signal handler that interrupted one that may.
 */
static inline int memo_take(struct pk__thread *t)
{
	if (__atomic_load_n(&t->memo.busy, __ATOMIC_RELAXED))
		return 0;
	__atomic_store_n(&t->memo.busy, 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	return 1;
}

static inline void memo_give(struct pk__thread *t)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	__atomic_store_n(&t->memo.busy, 0, __ATOMIC_RELAXED);
}

/* Depth into domain_refs: the counts first, then depth (memo_holds). */
static void memo_spill(struct pk__thread *t)
{
	struct pk__domain_memo *m = &t->memo;
	unsigned depth = m->depth;

	if (!depth)
		return;
	for (int i = 0; i < m->n; i++)
		__atomic_store_n(&t->domain_refs[m->key[i]],
				 (uint8_t)(t->domain_refs[m->key[i]] + depth),
				 __ATOMIC_SEQ_CST);
	__atomic_store_n(&m->depth, 0, __ATOMIC_SEQ_CST);
	/* Every key's count rose by depth (room may be 0 already). */
	m->room = m->room > depth ? m->room - depth : 0;
}

/* How deep depth may go with the counts as they are now. */
static void memo_room(struct pk__thread *t)
{
	struct pk__domain_memo *m = &t->memo;
	unsigned most = 0;

	if (!m->n)
		return; /* room stays 0: nothing to enter */
	for (int i = 0; i < m->n; i++)
		if (t->domain_refs[m->key[i]] > most)
			most = t->domain_refs[m->key[i]];
	m->room = 255 - most;
}

/*
 * After a successful fast entry of d (depth 0, memo taken, frees read
 * before its keys' entries were, with no free deciding): remember it.
 * Its keys are distinct and each holds hardware key pk__hw_slot(key).
 */
static void memo_make(struct pk__thread *t, const struct pk_domain_entry *d,
		      int n, uint64_t frees, pk__hw_reg clear, pk__hw_reg set)
{
	struct pk__domain_memo *m = &t->memo;

	for (int i = 0; i < n; i++) {
		int hw = pk__hw_slot(d[i].key);

		memcpy(&m->entry[i], &d[i], sizeof(m->entry[i]));
		__atomic_store_n(&m->key[i], d[i].key, __ATOMIC_RELAXED);
		for (unsigned r = 0; r <= PK__RIGHTS_MASK; r++)
			m->bits[i][r] = pk__hw_bits(hw, r);
	}
	__atomic_store_n(&m->n, n, __ATOMIC_RELAXED);
	m->frees = frees;
	m->keep = ~clear;
	m->set = set;
	memo_room(t);
}

/*
 * After a successful fast entry of d, which raised counts up to most:
 * the memo becomes d when d was also the last domain offered, so that
 * a thread alternating between domains does not pay for remaking it
 * each time.  Otherwise room comes down to what the highest count
 * raised leaves (whether or not its key is the memo's: cheaper than
 * finding out, and exact again at the next memo_make).
 */
static void memo_offer(struct pk__thread *t, const struct pk_domain_entry *d,
		       int n, uint64_t frees, pk__hw_reg clear, pk__hw_reg set,
		       unsigned most)
{
	struct pk__domain_memo *m = &t->memo;
	uint64_t first;

	memcpy(&first, &d[0], sizeof(first));
	if (m->offered_n == n && m->offered == first) {
		memo_make(t, d, n, frees, clear, set);
		return;
	}
	m->offered = first;
	m->offered_n = n;
	if (255 - most < m->room)
		m->room = 255 - most;
}

/*
 * A memo operation giving up after writing the records of its first n
 * keys: they go back, and the register is rebuilt from them (a sync
 * round may have used what was written); depth goes back to depth and
 * the memo is given.  Out of line: rare.
 */
static __attribute__((noinline, cold)) void
memo_put_back(struct pk__thread *t, const int *keys, const uint8_t *rights,
	      int n, unsigned depth)
{
	if (n > 0) {
		while (n-- > 0)
			__atomic_store_n(&t->rights[keys[n]], rights[n],
					 __ATOMIC_RELAXED);
		pk__hw_put_back(t, t->sync_seq + 1); /* not read: rebuild */
	}
	__atomic_store_n(&t->memo.depth, depth, __ATOMIC_RELAXED);
	/* Once a key has been evicted the memo never applies again (keys
	 * may move): room 0 stops the tries, a new memo is never made. */
	if (!pk__hw_unmoved())
		t->memo.room = 0;
	memo_give(t);
}

static __attribute__((noinline, cold)) int
memo_enter_failed(struct pk__thread *t, const struct pk_domain_entry *d,
		  int n, struct pk_domain_saved *saved, int i, unsigned depth)
{
	memo_put_back(t, saved->keys, saved->rights, i, depth);
	return domain_enter(d, n, saved);
}

/* The thread's rights for key as its record holds them. */
static inline unsigned memo_rights_of(const struct pk__thread *t, int key)
{
	unsigned r = __atomic_load_n(&t->rights[key], __ATOMIC_RELAXED);

	if (__builtin_expect(r == PK__RIGHTS_UNSET, 0))
		r = pk__key_init_rights(key);
	return r;
}

/*
 * Enter d through the memo if it is the memo's domain, else the general
 * way (domain_enter).  The count goes up first and is checked against a
 * free deciding (as domain_enter), so no key can be freed while the
 * records are written; a different domain puts it back.
 */
static inline int memo_enter(struct pk__thread *t,
			     const struct pk_domain_entry *d, int n,
			     struct pk_domain_saved *saved)
{
	struct pk__domain_memo *m = &t->memo;
	const uint64_t *e = m->entry;
	const int *key = m->key;
	unsigned depth;
	int i;

	if (!memo_take(t))
		return domain_enter(d, n, saved);
	depth = m->depth;
	/* An empty memo has room 0.  A key moved since: pk__hw_apply. */
	if (m->n != n || depth >= m->room)
		goto give;
	if (n < 1 || n > PK__MEMO_MAX) /* room is 0 until a memo is made */
		__builtin_unreachable();
	__atomic_store_n(&m->depth, depth + 1, __ATOMIC_SEQ_CST);
	if (__builtin_expect(__atomic_load_n(&pk__key_frees,
					     __ATOMIC_SEQ_CST) != m->frees,
			     0))
		goto uncount;
	/* Unrolled: each step's offsets are constants. */
#pragma GCC unroll 16
	for (i = 0; i < n; i++) {
		uint64_t w;
		int k = key[i];

		memcpy(&w, &d[i], sizeof(w));
		if (w != e[i])
			break;
		saved->keys[i] = k;
		saved->rights[i] = (unsigned char)memo_rights_of(t, k);
		__atomic_store_n(&t->rights[k], (uint8_t)d[i].rights,
				 __ATOMIC_RELAXED);
	}
	if (__builtin_expect(i < n || pk__hw_apply(t, ~m->keep, m->set), 0))
		return memo_enter_failed(t, d, n, saved, i, depth);
	saved->n = n;
	memo_give(t);
	return 0;
uncount:
	__atomic_store_n(&m->depth, depth, __ATOMIC_RELAXED);
give:
	memo_give(t);
	return domain_enter(d, n, saved);
}

/*
 * Leave saved through the memo if it names the memo's keys in its order
 * while depth counts an entry, else the general way (domain_leave).
 * Depth comes down after the register's write (as leave_resident).
 */
static inline int memo_leave(struct pk__thread *t,
			     const struct pk_domain_saved *saved, int n)
{
	struct pk__domain_memo *m = &t->memo;
	const int *key = m->key;
	const uint64_t(*bits)[4] = m->bits;
	uint8_t old[PK__MEMO_MAX];
	pk__hw_reg set = 0;
	unsigned depth;
	int i;

	if (!memo_take(t))
		return domain_leave(saved);
	depth = m->depth;
	if (!depth || m->n != n)
		goto give;
	if (n < 1 || n > PK__MEMO_MAX) /* depth counts a memo's entries */
		__builtin_unreachable();
#pragma GCC unroll 16
	for (i = 0; i < n; i++) {
		int k = key[i];
		size_t r = saved->rights[i]; /* an index: no extension */

		if (saved->keys[i] != k || r > PK__RIGHTS_MASK)
			break;
		set |= bits[i][r];
		old[i] = __atomic_load_n(&t->rights[k], __ATOMIC_RELAXED);
		__atomic_store_n(&t->rights[k], (uint8_t)r, __ATOMIC_RELAXED);
	}
	if (__builtin_expect(i < n || pk__hw_apply(t, ~m->keep, set), 0)) {
		memo_put_back(t, key, old, i, depth);
		return domain_leave(saved);
	}
	__atomic_store_n(&m->depth, depth - 1, __ATOMIC_RELAXED);
	memo_give(t);
	return 0;
give:
	memo_give(t);
	return domain_leave(saved);
}

#endif
