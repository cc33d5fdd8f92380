/* SPDX-License-Identifier: MIT */
/*
 * When the records of other threads change (pk_set_all, a new key's
 * initial rights, a virtual key moving into a hardware key), each thread
 * is sent a signal whose handler rebuilds its rights register, and the
 * caller waits until every thread has.  On CPUs whose kernel restores
 * the register on return from a handler, the handler writes the value
 * into the signal frame (pk__arch_frame_write).  Threads are found in
 * the library's records when the kernel counts no more threads than
 * that, else in /proc/self/task, so threads the library did not create
 * are reached too.  A thread that blocks the signal cannot be reached: the call
 * fails with -EAGAIN after a second, and says so in its man page.
 */
#include <errno.h>
#include <linux/futex.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/sync.h"
#include "core/arena.h"
#include "core/lock.h"
#include "core/threads.h"
#include "os/defer.h"
#include "os/sigaction.h"
#include "os/tasks.h"

struct target {
	int tid;
	int done;
};

static struct target *targets;
static size_t targets_n, targets_cap;
static int sync_signal;
static void (*rebuild)(void *uc);

/*
 * Hold rounds (pk__sync_hold_all): holding is set for the round, and a
 * thread the signal reaches waits in its handler until release_gen
 * moves.  It reads the count before holding, and the releaser clears
 * holding before it moves the count, so a signal that comes late finds
 * the round over and returns.
 */
static int holding;
static unsigned release_gen;

/* Threads that let a hold round time out (they block the signal): later
 * rounds send it to them but do not wait.  Lock held to change. */
#define DEAF 8
static int deaf[DEAF];
static unsigned deaf_next;

static int is_deaf(int tid)
{
	for (int i = 0; i < DEAF; i++)
		if (deaf[i] == tid)
			return 1;
	return 0;
}

static void mark_done(int tid)
{
	struct target *t;

	/* Again if the list moved meanwhile (push copies it to grow). */
	do {
		size_t n = __atomic_load_n(&targets_n, __ATOMIC_ACQUIRE);

		t = __atomic_load_n(&targets, __ATOMIC_ACQUIRE);
		for (size_t i = 0; i < n; i++)
			if (__atomic_load_n(&t[i].tid, __ATOMIC_RELAXED) == tid)
				__atomic_store_n(&t[i].done, 1,
						 __ATOMIC_RELEASE);
	} while (__atomic_load_n(&targets, __ATOMIC_ACQUIRE) != t);
}

static void on_sync(int sig, siginfo_t *info, void *uc)
{
	int tid = (int)syscall(SYS_gettid), saved = errno;
	unsigned gen = __atomic_load_n(&release_gen, __ATOMIC_ACQUIRE);

	/* Inside the library's lock: answered once it lets go (a thread
	 * held there would keep others from the lock). */
	if (pk__defer_hold(sig, info, uc, on_sync))
		return;
	if (__atomic_load_n(&holding, __ATOMIC_ACQUIRE)) {
		mark_done(tid);
		while (__atomic_load_n(&release_gen, __ATOMIC_ACQUIRE) == gen)
			syscall(SYS_futex, &release_gen, FUTEX_WAIT_PRIVATE, gen,
				NULL, NULL, 0);
	} else {
		if (rebuild)
			rebuild(uc);
		mark_done(tid);
	}
	errno = saved;
}

int pk__sync_init(void (*fn)(void *uc))
{
	struct sigaction sa;

	/* Realtime signals are queued and not used by libc's top ones. */
	sync_signal = SIGRTMAX - 3;
	rebuild = fn;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sync;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	return pk__sigaction_real(sync_signal, &sa, NULL) ? -errno : 0;
}

int pk__sync_signal(void)
{
	return sync_signal;
}

static int push(int tid)
{
	if (targets_n == targets_cap) {
		size_t ncap = targets_cap ? targets_cap * 2 : 512;
		struct target *t = pk__arena_alloc(ncap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		if (targets_n)
			memcpy(t, targets, targets_n * sizeof(*t));
		/* A handler may be reading the old copy: it stays, and
		 * the handler looks again when the list moved. */
		__atomic_store_n(&targets, t, __ATOMIC_RELEASE);
		targets_cap = ncap;
	}
	/* Atomic: a late handler of an earlier round may be reading. */
	__atomic_store_n(&targets[targets_n].tid, tid, __ATOMIC_RELAXED);
	__atomic_store_n(&targets[targets_n].done, 0, __ATOMIC_RELAXED);
	/* Published before the signal goes: its handler looks here. */
	__atomic_store_n(&targets_n, targets_n + 1, __ATOMIC_RELEASE);
	return 0;
}

/* Add each task not yet a target (but the caller), and signal it. */
static int add_target(void *self, int tid)
{
	int pid = getpid(), rc;

	if (tid == *(int *)self)
		return 0;
	for (size_t i = 0; i < targets_n; i++)
		if (targets[i].tid == tid)
			return 0;
	rc = push(tid);
	if (rc)
		return rc;
	if (syscall(SYS_tgkill, pid, tid, sync_signal) ||
	    (__atomic_load_n(&holding, __ATOMIC_RELAXED) && is_deaf(tid)))
		/* gone, or never answers */
		__atomic_store_n(&targets[targets_n - 1].done, 1,
				 __ATOMIC_RELEASE);
	return 0;
}

/* Wait until every target has answered: 0, or -EAGAIN after a second. */
static int wait_all(int hold)
{
	int pid = getpid();
	struct timespec pause = {0, 20000}, start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int round = 0;; round++) {
		size_t left = 0;
		for (size_t i = 0; i < targets_n; i++) {
			if (__atomic_load_n(&targets[i].done, __ATOMIC_ACQUIRE))
				continue;
			/* A thread that exited never answers, nor does a
			 * main thread that called pthread_exit: the kernel
			 * keeps its task, a zombie, while others run. */
			if (round % 64 == 63 &&
			    (syscall(SYS_tgkill, pid, targets[i].tid, 0) ||
			     pk__task_exited(targets[i].tid))) {
				__atomic_store_n(&targets[i].done, 1,
						 __ATOMIC_RELEASE);
				continue;
			}
			left++;
		}
		if (!left)
			return 0;
		/* Threads on other CPUs answer within microseconds: yield
		 * first, sleep (tens of microseconds at least) later. */
		if (round < 200) {
			syscall(SYS_sched_yield);
			continue;
		}
		/* A second by the clock: sleeps run long under load. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 1 ||
		    (now.tv_sec - start.tv_sec == 1 &&
		     now.tv_nsec >= start.tv_nsec)) {
			for (size_t i = 0; hold && i < targets_n; i++)
				if (!__atomic_load_n(&targets[i].done,
						     __ATOMIC_ACQUIRE))
					deaf[deaf_next++ % DEAF] = targets[i].tid;
			return -EAGAIN;
		}
		nanosleep(&pause, NULL);
	}
}

/*
 * The targets from the library's records, when they are every thread:
 * the kernel counts as many threads as there are records (one fstat),
 * and each record's thread has started (it has a tid).  Records are
 * made under the lock in which their thread is cloned and dropped when
 * it exits (core/threads.c), so then no thread lacks one.  Returns 0
 * when every thread was signalled; 1 when /proc/self/task must be read
 * (counts differ, a thread not started yet, one gone), with the
 * threads signalled so far kept as targets.  Lock held.
 */
static int add_recorded(int self)
{
	int pid = getpid();

	if (!pk__threads_all_recorded())
		return 1;
	for (struct pk__thread *t = pk__threads; t; t = t->next) {
		int tid = __atomic_load_n(&t->tid, __ATOMIC_RELAXED);

		if (tid == self)
			continue;
		if (push(tid))
			return 1;
		if (syscall(SYS_tgkill, pid, tid, sync_signal)) {
			/* Gone, yet listed: a thread that ended without its
			 * exit handlers; ask /proc. */
			__atomic_store_n(&targets[targets_n - 1].done, 1,
					 __ATOMIC_RELEASE);
			return 1;
		}
	}
	return 0;
}

int pk__sync_all(void)
{
	int self = (int)syscall(SYS_gettid), rc = 0;

	__atomic_store_n(&targets_n, 0, __ATOMIC_RELEASE);
	if (add_recorded(self))
		rc = pk__for_each_task(add_target, &self);
	if (rc == 0)
		rc = wait_all(0);
	__atomic_store_n(&targets_n, 0, __ATOMIC_RELEASE);
	return rc;
}

/*
 * The list is made under the lock (its memory comes from the arena),
 * the waiting done without it: a thread waiting for the lock has every
 * signal blocked and could not answer.  Listed again until no thread
 * appears that the last listing missed (one a held thread's creator
 * started just before it was held).
 */
int pk__sync_hold_all(void)
{
	int self = (int)syscall(SYS_gettid), rc = 0, listed, now;

	__atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&targets_n, 0, __ATOMIC_RELEASE);
	pk__lock_take();
	listed = pk__tasks_listed();
	rc = pk__for_each_task(add_target, &self);
	pk__lock_drop();
	while (rc == 0 && (rc = wait_all(1)) == 0) {
		/* The same count as when listed: nobody came or went. */
		int same;

		pk__lock_take();
		now = pk__tasks_listed();
		same = now >= 0 && now == listed;
		if (!same) {
			listed = now;
			rc = pk__for_each_task(add_target, &self);
		}
		pk__lock_drop();
		if (same)
			break;
	}
	return rc;
}

void pk__sync_release(void)
{
	__atomic_store_n(&targets_n, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&holding, 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&release_gen, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &release_gen, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL,
		NULL, 0);
}
