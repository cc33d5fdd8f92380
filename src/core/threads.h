/* SPDX-License-Identifier: MIT */
/*
 * The library's record of each thread's rights (core/threads.c).
 * rights[k] is PK__RIGHTS_UNSET while the thread holds key k's initial
 * rights.  All calls need the lock, except reading one's own record.
 * domain_refs and memo are written by their own thread only, without the
 * lock, and read by pk_key_free under it (api/domain.c says how they
 * agree).
 */
#ifndef PK_CORE_THREADS_H
#define PK_CORE_THREADS_H

#include <pthread.h>
#include <stdint.h>

#include "core/keys.h"
#include "core/rights.h"

/*
 * The last domain a thread entered on the hardware fast path, kept so
 * that entering it again compares entries instead of deciding key by
 * key (api/domain_memo.h).  Its own thread writes it, and changes what
 * it names only while depth is 0; pk_key_free reads depth, then (when
 * not 0) n and key[].
 */
#define PK__MEMO_MAX 16
struct pk__domain_memo {
	unsigned char busy; /* a memo operation runs on this thread */
	unsigned depth; /* entries counted here instead of domain_refs */
	unsigned room;	/* depth stays below: no key counted past 255 */
	int n;		/* entries; 0: none */
	uint64_t frees; /* pk__key_frees when made, no free deciding */
	uint64_t entry[PK__MEMO_MAX]; /* each pk_domain_entry, as entered */
	int key[PK__MEMO_MAX];
	uint64_t keep, set; /* the register's change on entry: bits kept, set */
	uint64_t bits[PK__MEMO_MAX][4]; /* per key, per rights: its bits */
	uint64_t offered;		/* the last domain offered: entry 0 */
	int offered_n;			/* and its size */
};

struct pk__thread {
	struct pk__thread *prev, *next;
	int tid;		/* 0 until the thread runs */
	unsigned sync_seq;	/* bumped when another thread rebuilt its register */
	uint8_t rights[PK__KEYS];
	uint8_t domain_refs[PK__KEYS]; /* domains entered and not left */
	struct pk__domain_memo memo;
};

extern struct pk__thread *pk__threads;
extern int pk__threads_n, pk__threads_unknown;

/* The calling thread's record, NULL until it has one. */
extern __thread struct pk__thread *pk__thread_state
	__attribute__((tls_model("initial-exec")));

/*
 * t's rights for key (t may be NULL: the initial rights).  No lock: a
 * thread reads its own record while pk_set_all may write it under the
 * lock, so single bytes, accessed atomically.
 */
static inline unsigned pk__rights_of(const struct pk__thread *t, int key)
{
	unsigned r = t ? __atomic_load_n(&t->rights[key], __ATOMIC_RELAXED)
		       : PK__RIGHTS_UNSET;

	return r == PK__RIGHTS_UNSET ? pk__key_init_rights(key) : r;
}
/*
 * Odd while a call (pk_set_all, pk_key_alloc) rewrites other threads'
 * records and then applies them.  A lock-free reader that acts on what
 * its own record says reads it (with acquire loads) between two loads
 * of this count, an even count the same both times, so that it never
 * trusts rights written but not yet in force, or about to be taken
 * back.  The writer makes the count odd, then writes records with
 * release stores: a reader that sees one sees the odd count after it.
 * (No fences: ThreadSanitizer does not model them.)  Lock held to
 * change it.
 */
extern unsigned pk__records_seq;

static inline unsigned pk__records_read_begin(void)
{
	return __atomic_load_n(&pk__records_seq, __ATOMIC_ACQUIRE);
}

static inline int pk__records_read_ok(unsigned seq)
{
	return !(seq & 1) &&
	       __atomic_load_n(&pk__records_seq, __ATOMIC_RELAXED) == seq;
}

static inline void pk__records_write_begin(void)
{
	__atomic_store_n(&pk__records_seq, pk__records_seq + 1,
			 __ATOMIC_RELAXED);
}

static inline void pk__records_write_end(void)
{
	__atomic_store_n(&pk__records_seq, pk__records_seq + 1,
			 __ATOMIC_RELEASE);
}

/*
 * Whether the library's records are every thread of the process: the
 * kernel counts as many (one fstat of /proc/self/task) and each record's
 * thread has started (a tid).  Lock held.
 */
int pk__threads_all_recorded(void);
/* Whether some thread is inside a domain holding key.  Lock held. */
int pk__threads_in_domain(int key);
/* The union over threads of their rights for key.  Lock held. */
unsigned pk__union_rights(int key);
/* The narrowest of their rights for key (exact mode).  Lock held. */
unsigned pk__meet_rights(int key);

/* The calling thread's record, made on first use (NULL: no memory). */
struct pk__thread *pk__self_locked(void);
/* The same, taking the lock only when the record must be made. */
struct pk__thread *pk__self(void);
/* A record for a thread about to be created, with the caller's rights. */
struct pk__thread *pk__thread_for_child(void);
/*
 * The thread-specific data key whose destructor drops a thread's record
 * at exit (made on first use).  Its value is the record tagged with bit
 * 0, or a malloc'd block whose first member is the record (freed then).
 */
pthread_key_t pk__threads_exit_key(void);
/* A thread exits, or was never created: drop its record.  Lock held. */
void pk__thread_gone(struct pk__thread *t);
/*
 * Called, lock held, after a thread's record was dropped at its exit:
 * the backend's "threads changed".  Set once, when the backend is chosen.
 */
extern void (*pk__threads_exit_hook)(void);
/* Recount threads the library has no record of (/proc).  Lock held. */
void pk__threads_recount(void);
/* Fork, lock held: note the threads now; in the child drop the others. */
void pk__threads_fork_prepare(void);
void pk__threads_fork_child(void);

#endif
