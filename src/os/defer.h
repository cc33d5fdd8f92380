/* SPDX-License-Identifier: MIT */
/*
 * Signals held back while a thread is inside the library's lock
 * (core/lock.h), without a system call per acquisition (os/defer.c).
 *
 * Where the library stands between every handler of the program and
 * the kernel (os/handlers.c: the emulation, once a key exists, in a
 * program whose sigaction calls reach the library), the lock need not
 * block signals: the thread marks itself busy, and the wrapper, finding
 * it busy, puts an asynchronous signal back as pending, blocked (in the
 * mask the kernel restores when the wrapper returns), and the lock's
 * release unblocks it: the program's handler then runs, as the kernel
 * delivers it, outside the library.  Synchronous signals (the faults,
 * SIGTRAP, SIGSYS, as the kernel raises them: not sent by kill()) are
 * never held back: the handler must see the instruction that raised
 * them.  The library's own asynchronous handler (the sync
 * signal, backend/sync.c) holds back the same way.  A signal the kernel
 * will not queue again (a full queue) is kept here, and the release
 * calls its handler itself.
 */
#ifndef PK_OS_DEFER_H
#define PK_OS_DEFER_H

#include <signal.h>
#include <stdint.h>

/* Whether this thread is inside the lock (or waiting for it). */
extern __thread int pk__defer_busy __attribute__((tls_model("initial-exec")));
/*
 * Set while this thread is single-stepped (the emulation's exact mode):
 * its lock blocks signals instead, so that the step ends at that system
 * call, outside the lock, where the step's handler may take it.
 */
extern __thread int pk__defer_stepped
	__attribute__((tls_model("initial-exec")));
/* The signals held back from this thread (bit sig - 1). */
extern __thread uint64_t pk__defer_held
	__attribute__((tls_model("initial-exec")));
/* How many held back could not be queued again (os/defer.c). */
extern __thread int pk__defer_late __attribute__((tls_model("initial-exec")));

/* What a thread held back when it took the lock: not its release's. */
struct pk__defer_mark {
	uint64_t held;
	int late;
};

/* Calls a handler as the kernel would: for a signal held back that is
 * delivered by the release itself (os/defer.c). */
typedef void (*pk__defer_fn)(int sig, siginfo_t *info, void *uc);

/*
 * From now on the lock may hold back instead of blocking: once every
 * handler the program installs reaches the kernel through the wrapper.
 * Returns whether that is so (the C library's sigaction is the
 * library's); once on, stays on.
 */
int pk__defer_enable(void);
int pk__defer_enabled(void);
/*
 * In the wrapper: 1 when sig was held back (do not call the handler).
 * late: what the release calls with info if the signal cannot wait in
 * the kernel.
 */
int pk__defer_hold(int sig, siginfo_t *info, void *uc, pk__defer_fn late);
/*
 * The same for the program's handlers: a real-time signal is kept for
 * the release to deliver (late) while there is room, so that it stays
 * ahead of the instances sent after it.
 */
int pk__defer_hold_ordered(int sig, siginfo_t *info, void *uc,
			   pk__defer_fn late);
/*
 * The lock was let go with signals held back: deliver them now, all
 * but keep, what was held back before it was taken (core/lock.c: a
 * release interrupted by a handler that took the lock).
 */
void pk__defer_release(const struct pk__defer_mark *keep);

#endif
