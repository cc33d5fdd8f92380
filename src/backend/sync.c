/* SPDX-License-Identifier: MIT */
/*
 * When the records of other threads change (pk_set_all, a new key's
 * initial rights, a virtual key moving into a hardware key), each thread
 * is sent a signal whose handler rebuilds its rights register, and the
 * caller waits until every thread has.  On CPUs whose kernel restores
 * the register on return from a handler, the handler writes the value
 * into the signal frame (pk__arch_frame_write).  Threads are found in
 * /proc/self/task, so threads the library did not create are reached
 * too.  A thread that blocks the signal cannot be reached: the call
 * fails with -EAGAIN after a second, and says so in its man page.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "backend/sync.h"
#include "core/arena.h"
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

static void on_sync(int sig, siginfo_t *info, void *uc)
{
	int tid = (int)syscall(SYS_gettid), saved = errno;

	(void)sig;
	(void)info;
	rebuild(uc);
	for (size_t i = 0; i < __atomic_load_n(&targets_n, __ATOMIC_ACQUIRE); i++)
		if (targets[i].tid == tid)
			__atomic_store_n(&targets[i].done, 1, __ATOMIC_RELEASE);
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
		targets = t;
		targets_cap = ncap;
	}
	targets[targets_n++] = (struct target){tid, 0};
	return 0;
}

static int add_target(void *self, int tid)
{
	return tid == *(int *)self ? 0 : push(tid);
}

int pk__sync_all(void)
{
	int self = (int)syscall(SYS_gettid), pid = getpid(), rc;
	struct timespec pause = {0, 20000}, start, now;

	__atomic_store_n(&targets_n, 0, __ATOMIC_RELEASE);
	rc = pk__for_each_task(add_target, &self);
	if (rc)
		return rc;
	for (size_t i = 0; i < targets_n; i++)
		if (syscall(SYS_tgkill, pid, targets[i].tid, sync_signal))
			targets[i].done = 1; /* gone already */
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int round = 0;; round++) {
		size_t left = 0;
		for (size_t i = 0; i < targets_n; i++) {
			if (__atomic_load_n(&targets[i].done, __ATOMIC_ACQUIRE))
				continue;
			/* A thread that exited never answers. */
			if (round % 64 == 63 &&
			    syscall(SYS_tgkill, pid, targets[i].tid, 0)) {
				targets[i].done = 1;
				continue;
			}
			left++;
		}
		if (!left)
			break;
		/* A second by the clock: sleeps run long under load. */
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 1 ||
		    (now.tv_sec - start.tv_sec == 1 &&
		     now.tv_nsec >= start.tv_nsec))
			return -EAGAIN;
		nanosleep(&pause, NULL);
	}
	__atomic_store_n(&targets_n, 0, __ATOMIC_RELEASE);
	return 0;
}
