/* SPDX-License-Identifier: MIT */
/*
 * Thread creation with inherited rights, and per-thread backend state.
 *
 * On hardware a new thread inherits its creator's rights register.  The
 * emulation keeps rights in memory, so the creator's rights are copied
 * here and handed to the new thread before it runs any of the program's
 * code.
 *
 * The new thread runs trampoline() before any other code, possibly
 * before a sanitizer's interceptor has set the thread up (a sanitizer's
 * pthread_create that reaches ours through RTLD_NEXT wraps the start
 * routine inside ours).  So this file is built without sanitizer
 * instrumentation, the trampoline only stores to initial-exec TLS and
 * calls pthread_setspecific, and everything else (freeing the start
 * record, the backend's exit hook) happens at thread exit.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/select.h"
#include "core/lock.h"
#include "core/threads.h"
#include "interpose/interpose.h"

/* pthread_attr_setsigmask_np and its getter: glibc 2.32. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#define HAVE_ATTR_SIGMASK 1
#else
#define HAVE_ATTR_SIGMASK 0
#endif

/* Freed at the thread's exit (core/threads.c): the record comes first. */
struct start {
	struct pk__thread *record;
	void *(*fn)(void *);
	void *arg;
	sigset_t mask;
	pthread_key_t exit_key;
};

static void *trampoline(void *p)
{
	struct start *s = p;

	pk__thread_state = s->record;
	/* Read without the lock by pk_set_all's signal round. */
	__atomic_store_n(&s->record->tid, (int)syscall(SYS_gettid),
			 __ATOMIC_RELEASE);
	pthread_setspecific(s->exit_key, s);
	/* Created under the lock, which blocks signals: unblock them. */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &s->mask, NULL, _NSIG / 8);
	return s->fn(s->arg);
}

/*
 * The thread is created under the lock, so that a change of every
 * thread's rights (pk_set_all) sees either none of it or its record:
 * the child's register and record are both copies of its creator's.
 * The new thread's id goes to a local and reaches *thread after the
 * lock is dropped: the caller's memory may fault (the lock's rule).
 */
static int create_locked(const struct pk__backend *b,
			 pk__pthread_create_fn real, pthread_t *thread,
			 const pthread_attr_t *attr, void *(*fn)(void *),
			 void *arg);

int pk__thread_create(pk__pthread_create_fn real, pthread_t *thread,
		      const pthread_attr_t *attr, void *(*fn)(void *),
		      void *arg)
{
	const struct pk__backend *b = pk__backend_peek();
	pthread_t id;
	int rc;

	if (!b)
		return real(thread, attr, fn, arg);
	rc = create_locked(b, real, &id, attr, fn, arg);
	if (rc == 0)
		*thread = id;
	return rc;
}

static int create_locked(const struct pk__backend *b,
			 pk__pthread_create_fn real, pthread_t *thread,
			 const pthread_attr_t *attr, void *(*fn)(void *),
			 void *arg)
{
	struct start *s;
	int rc;

	s = malloc(sizeof(*s));
	if (!s)
		return EAGAIN;
	s->exit_key = pk__threads_exit_key();
	s->fn = fn;
	s->arg = arg;
	pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
#if HAVE_ATTR_SIGMASK
	/* The mask the attribute asks for, if any, as without the library. */
	int attr_mask = attr && pthread_attr_getsigmask_np(attr, &s->mask) == 0;
#else
	int attr_mask = 0;

	(void)attr_mask;
#endif
	pk__lock_take();
	/*
	 * A thread started by a fork handler belongs to a runtime (a
	 * sanitizer's helper), not to the program: it starts with the
	 * initial rights and no record, so it holds no keys open.
	 */
	s->record = pk__in_fork() ? NULL : pk__thread_for_child();
	if (!s->record && !pk__in_fork()) {
		pk__lock_drop();
		free(s);
		return EAGAIN;
	}
	if (!s->record) {
		pk__lock_drop();
		free(s);
		return real(thread, attr, fn, arg);
	}
	/*
	 * The lock leaves the sync signal unblocked, and the child inherits
	 * the mask: a sync round reaching it before trampoline() sets its
	 * record would rebuild its register from no record (the initial
	 * rights, not its creator's).  Blocked, the signal waits for
	 * trampoline's unblocking, after the record is set.
	 */
	if (b->sync_signal) {
		int sig = b->sync_signal();
		sigset_t sync, old;

		sigemptyset(&sync);
		sigaddset(&sync, sig);
		pthread_sigmask(SIG_BLOCK, &sync, &old);
#if HAVE_ATTR_SIGMASK
		/* glibc starts the thread with the attribute's mask, not the
		 * creator's: block the signal there too, for the start. */
		/* (The child owns s once it runs: keep copies here.) */
		sigset_t asked = s->mask, start = s->mask;
#endif

		/* Never blocked once the thread runs: the signal is reserved. */
		sigdelset(&s->mask, sig);
#if HAVE_ATTR_SIGMASK
		if (attr_mask) {
			sigaddset(&start, sig);
			pthread_attr_setsigmask_np((pthread_attr_t *)attr, &start);
		}
#endif
		rc = real(thread, attr, trampoline, s);
#if HAVE_ATTR_SIGMASK
		if (attr_mask)
			pthread_attr_setsigmask_np((pthread_attr_t *)attr, &asked);
#endif
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	} else {
		rc = real(thread, attr, trampoline, s);
	}
	if (rc) {
		pk__thread_gone(s->record);
		free(s);
	}
	pk__lock_drop();
	return rc;
}
