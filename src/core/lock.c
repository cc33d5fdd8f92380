/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <signal.h>

#include "core/lock.h"
#include "core/seal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int open_signal;

static __thread int fork_holds_lock;
/* The signal mask to restore when this thread drops the lock. */
static __thread sigset_t saved_mask;
/* Its cancelability, likewise. */
static __thread int saved_cancel;
/* Whether this thread holds the lock. */
static __thread int held_here;

/* Not between fork's prepare and done: the program's fork handlers run
 * there, and the library's calls from them do not take the lock. */
int pk__lock_mine(void)
{
	return held_here && !fork_holds_lock;
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

void pk__lock_take(void)
{
	sigset_t all;

	if (fork_holds_lock)
		return;
	pk__lock_mask(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved_mask);
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &saved_cancel);
	pthread_mutex_lock(&lock);
	held_here = 1;
}

int pk__lock_try(void)
{
	sigset_t all, saved;

	if (fork_holds_lock)
		return 1;
	pk__lock_mask(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	if (pthread_mutex_trylock(&lock)) {
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		return 0;
	}
	saved_mask = saved;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &saved_cancel);
	held_here = 1;
	return 1;
}

void pk__lock_drop(void)
{
	if (fork_holds_lock)
		return;
	pk__seal_close();
	held_here = 0;
	pthread_mutex_unlock(&lock);
	pthread_setcancelstate(saved_cancel, NULL);
	pthread_sigmask(SIG_SETMASK, &saved_mask, NULL);
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
