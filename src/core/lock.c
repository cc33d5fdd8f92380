/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/lock.h"
#include "core/seal.h"
#include "os/defer.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int open_signal;

#define IE __attribute__((tls_model("initial-exec")))

static __thread int fork_holds_lock IE;
/* The signal mask to restore when this thread drops the lock. */
static __thread sigset_t saved_mask IE;
/* Its cancelability, likewise. */
static __thread int saved_cancel IE;
/* Whether this thread holds the lock. */
static __thread int held_here IE;
/* Whether this thread's acquisition held signals back (os/defer.h)
 * instead of blocking them. */
static __thread int deferring IE;
/* The signals held back before it (os/defer.h), not its to release. */
static __thread struct pk__defer_mark saved_held IE;

/* Not between fork's prepare and done: the program's fork handlers run
 * there, and the library's calls from them do not take the lock. */
int pk__lock_mine(void)
{
	return (held_here ||
		__atomic_load_n(&pk__defer_busy, __ATOMIC_RELAXED)) &&
	       !fork_holds_lock;
}

int pk__in_fork(void)
{
	return fork_holds_lock;
}

void pk__lock_keep_open(int sig)
{
	__atomic_store_n(&open_signal, sig, __ATOMIC_RELAXED);
}

void pk__lock_mask(sigset_t *set)
{
	int sig = __atomic_load_n(&open_signal, __ATOMIC_RELAXED);

	sigfillset(set);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGFPE);
	if (sig)
		sigdelset(set, sig);
}

/*
 * A handler the library does not wrap (installed with a raw system
 * call, or with sigset(3)) called it while this thread was inside the
 * lock: waiting would never end, going on would find its state half
 * changed.  Said plainly, then stopped.
 */
__attribute__((noreturn, cold)) static void reentered(void)
{
	static const char msg[] =
		"pkeys: a signal handler the library does not wrap called it "
		"while it held its lock in this thread; stopping\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

/*
 * Signals held back (os/defer.h: returns 1) or blocked, before the
 * mutex.  *held: what is held back already, for a release that let go
 * of its busy mark and had not released them yet when a handler that
 * calls the library ran: this acquisition's release leaves those to
 * the one below, which then runs after this handler returns and its
 * saved mask blocks them again.  Read before busy: a signal held back
 * after is this acquisition's.
 */
static int signals_off(sigset_t *saved, struct pk__defer_mark *held)
{
	sigset_t all;

	if (pk__defer_enabled() && !pk__defer_stepped) {
		if (__atomic_load_n(&pk__defer_busy, __ATOMIC_RELAXED))
			reentered();
		held->held = pk__defer_held;
		held->late = pk__defer_late;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(&pk__defer_busy, 1, __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		return 1;
	}
	pk__lock_mask(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	return 0;
}

#ifdef PKEYS_TEST_HOOKS
void (*pk__lock_test_window)(void);

static void test_window(void)
{
	void (*fn)(void);

	if (__atomic_load_n(&pk__lock_test_window, __ATOMIC_RELAXED)) {
		fn = __atomic_exchange_n(&pk__lock_test_window, NULL,
					 __ATOMIC_ACQ_REL);
		if (fn)
			fn();
	}
}
#else
static void test_window(void)
{
}
#endif

static void signals_on(int deferred, const sigset_t *saved,
		       const struct pk__defer_mark *held)
{
	if (deferred) {
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		__atomic_store_n(&pk__defer_busy, 0, __ATOMIC_RELAXED);
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		test_window();
		if (pk__defer_held != held->held ||
		    pk__defer_late != held->late)
			pk__defer_release(held);
		return;
	}
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

void pk__lock_take(void)
{
	sigset_t saved;
	struct pk__defer_mark held = {0, 0};
	int d;

	if (fork_holds_lock)
		return;
	d = signals_off(&saved, &held);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &saved_cancel);
	pthread_mutex_lock(&lock);
	saved_mask = saved;
	deferring = d;
	saved_held = held;
	held_here = 1;
}

int pk__lock_try(void)
{
	sigset_t saved;
	struct pk__defer_mark held = {0, 0};
	int d;

	if (fork_holds_lock)
		return 1;
	/* A fault inside the lock, in this thread: never taken here. */
	if (__atomic_load_n(&pk__defer_busy, __ATOMIC_RELAXED))
		return 0;
	d = signals_off(&saved, &held);
	if (pthread_mutex_trylock(&lock)) {
		signals_on(d, &saved, &held);
		return 0;
	}
	saved_mask = saved;
	deferring = d;
	saved_held = held;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &saved_cancel);
	held_here = 1;
	return 1;
}

void pk__lock_drop(void)
{
	/* Read before the mutex goes: a fault handler in this thread may
	 * take the lock right after, and fill these in for itself. */
	sigset_t saved = saved_mask;
	int d = deferring, cancel = saved_cancel;
	struct pk__defer_mark held = saved_held;

	if (fork_holds_lock)
		return;
	pk__seal_close();
	held_here = 0;
	pthread_mutex_unlock(&lock);
	pthread_setcancelstate(cancel, NULL);
	signals_on(d, &saved, &held);
}

void pk__lock_fork_prepare(void)
{
	pk__lock_take();
	fork_holds_lock = 1;
}

void pk__lock_fork_done(void)
{
	fork_holds_lock = 0;
	pk__lock_drop();
}
