/* SPDX-License-Identifier: MIT */
/*
 * The library's one lock.  It serialises key allocation, the registry,
 * thread records and, on the emulation, every change of rights.
 *
 * Rule: no handler of the program ever runs in a thread that holds the
 * lock or waits for it, so a handler never finds its own thread holding
 * it, and every call that takes it is async-signal-safe.  Two ways:
 *   - held back, without a system call: where the library stands
 *     between every handler and the kernel (os/defer.h: the emulation
 *     once a key exists, in a program whose sigaction reaches the
 *     library), the thread marks itself busy; the wrapper re-queues an
 *     asynchronous signal that arrives meanwhile, blocked, and the
 *     release unblocks it.  A handler installed behind the library's
 *     back that calls it there stops the program with a message
 *     (waiting would never end);
 *   - blocked, two rt_sigprocmask calls: everywhere else, every signal
 *     but the synchronous faults and the hardware backend's sync
 *     signal is blocked while the lock is held.
 * Code under the lock must not touch the program's memory (it may
 * fault, and the fault handler may need the lock) and must not call
 * malloc.  Cancellation is disabled while it is held: a thread
 * cancelled there would unwind with it.
 */
#ifndef PK_CORE_LOCK_H
#define PK_CORE_LOCK_H

#include <signal.h>

void pk__lock_take(void);
/* pk__lock_take if the lock is free now (1), else 0; never waits. */
int pk__lock_try(void);
void pk__lock_drop(void);
/*
 * Whether the calling thread holds the lock.  A fault handler asks: a
 * fault under the lock (a bug, or the program's memory touched against
 * the rule above) must not wait for it, and must not be recovered from
 * (pk_try would jump out with the lock held), so it is not treated as a
 * key fault and takes the signal's default course.
 */
int pk__lock_mine(void);
/* The signals blocked while the lock is held. */
void pk__lock_mask(sigset_t *set);
/* A signal the lock leaves deliverable (the hardware backend's sync
 * signal, which a waiting thread must answer).  Set once, at init. */
void pk__lock_keep_open(int sig);

/*
 * Fork: the forking thread takes the lock in the prepare handler and
 * drops it in the parent and child handlers.  Other fork handlers run
 * in between (a sanitizer's child handler starts a thread): their calls
 * into the library must not wait for the lock this thread holds, so
 * while pk__in_fork() take and drop are no-ops in this thread.
 */
void pk__lock_fork_prepare(void);
void pk__lock_fork_done(void);
int pk__in_fork(void);

#ifdef PKEYS_TEST_HOOKS
/* Test builds: called once, then cleared, by the next release of a lock
 * that held signals back, in the moment between the thread's no longer
 * busy and the release of what it held (api/test_hooks.c). */
extern void (*pk__lock_test_window)(void);
#endif

#endif
