/* SPDX-License-Identifier: MIT */
/*
 * Signals held back while a thread is inside the library's lock
 * (os/defer.h).
 *
 * Holding back: the wrapper runs with the signal consumed, so it is
 * queued again to the same thread with the same siginfo (a thread may
 * send itself any siginfo), after blocking it in this handler's mask
 * (a signal whose handler has SA_NODEFER would otherwise come straight
 * back) and in the mask the kernel restores on return.  So it stays
 * pending until the lock's release unblocks it.  (The kernel lets a
 * thread queue to itself a siginfo whose code says the kernel or kill()
 * sent it, and to no other thread.)  These system calls happen only
 * when a signal arrives inside the lock.
 *
 * Queued again, a real-time signal sent with its siginfo takes a place
 * in the queue of pending signals (RLIMIT_SIGPENDING); when there is
 * none, the kernel refuses it.  Then the signal, already taken from the
 * kernel, is kept here, and the release calls its handler itself (the
 * wrapper's late function, with the kernel's mask), with its siginfo
 * and a context that has the thread's mask but no registers, before it
 * unblocks what waits in the kernel: the same signal sent after waits
 * there, blocked, behind it.  A few per thread; beyond those it is
 * queued again without its siginfo (the kernel keeps a signal sent by
 * kill() whatever the queue's length), as the kernel itself loses the
 * siginfo of what it queues when the queue is full.
 *
 * Not instrumented (CMakeLists.txt): the wrapper calls it before a
 * sanitizer's handler has run.
 */
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "os/defer.h"

__thread int pk__defer_busy __attribute__((tls_model("initial-exec")));
__thread uint64_t pk__defer_held __attribute__((tls_model("initial-exec")));
__thread int pk__defer_stepped __attribute__((tls_model("initial-exec")));
__thread int pk__defer_late __attribute__((tls_model("initial-exec")));

/* Few: a full queue while a thread holds the lock is rare, and this is
 * initial-exec TLS, which a library loaded by dlopen takes from a small
 * reserve. */
#define LATE_MAX 2

struct late {
	pk__defer_fn fn;
	siginfo_t info;
};

static __thread struct late late[LATE_MAX]
	__attribute__((tls_model("initial-exec")));

static int enabled;

/*
 * The program's sigaction reaches the library when the dynamic linker
 * resolves the name to this object (the shared library, first in the
 * search order).  A static program, or one that defines its own, does
 * not: there the lock keeps blocking signals.
 */
int pk__defer_enable(void)
{
	Dl_info mine, theirs;
	void *sa = dlsym(RTLD_DEFAULT, "sigaction");

	if (!sa || !dladdr((void *)pk__defer_enable, &mine) ||
	    !dladdr(sa, &theirs) || mine.dli_fbase != theirs.dli_fbase)
		return 0;
	__atomic_store_n(&enabled, 1, __ATOMIC_RELEASE);
	return 1;
}

int pk__defer_enabled(void)
{
	return __atomic_load_n(&enabled, __ATOMIC_ACQUIRE);
}

/*
 * Raised by what the thread executes: a fault (returning would run the
 * instruction again), a trap or a system call refused (the handler
 * answers from the context).  The kernel says so with a positive code;
 * the same numbers sent by kill(), sigqueue() or tgkill() (code 0 or
 * less) are asynchronous like any other.
 */
static int synchronous(int sig, const siginfo_t *info)
{
	return (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
		sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS) &&
	       info->si_code > 0;
}

/* sig with info to this thread; 0, or -1 when the queue is full. */
static int queue_again(int sig, const siginfo_t *info)
{
	siginfo_t again;

	memcpy(&again, info, sizeof(again));
	return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(),
			    (pid_t)syscall(SYS_gettid), sig, &again);
}

/* Kept for the release to deliver, when there is room. */
static int keep_late(int sig, const siginfo_t *info, pk__defer_fn fn)
{
	if (pk__defer_late >= LATE_MAX)
		return 0;
	late[pk__defer_late].fn = fn;
	memcpy(&late[pk__defer_late].info, info, sizeof(*info));
	late[pk__defer_late].info.si_signo = sig;
	pk__defer_late++;
	return 1;
}

/* Pending again, blocked until the release (pk__defer_held). */
static void block_held(int sig, void *uc)
{
	sigset_t one;

	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_BLOCK, &one, NULL);
	sigaddset(&((ucontext_t *)uc)->uc_sigmask, sig);
	pk__defer_held |= (uint64_t)1 << (sig - 1);
}

static int hold(int sig, siginfo_t *info, void *uc, pk__defer_fn fn,
		int in_order)
{
	siginfo_t bare;
	int saved_errno;

	if (!__atomic_load_n(&pk__defer_busy, __ATOMIC_RELAXED) ||
	    synchronous(sig, info) || sig < 1 || sig > 64)
		return 0;
	saved_errno = errno;
	/* Blocked before it is queued: a handler with SA_NODEFER would
	 * have it back at once. */
	block_held(sig, uc);
	/*
	 * A real-time signal queued again would go behind instances of it
	 * already waiting: kept here, it is delivered first at the
	 * release, and those wait, blocked, until after it.
	 */
	if (in_order && sig >= 32 && keep_late(sig, info, fn)) {
		errno = saved_errno;
		return 1;
	}
	if (queue_again(sig, info) && !keep_late(sig, info, fn)) {
		memset(&bare, 0, sizeof(bare));
		bare.si_signo = sig;
		bare.si_code = SI_USER;
		(void)queue_again(sig, &bare);
	}
	errno = saved_errno;
	return 1;
}

int pk__defer_hold(int sig, siginfo_t *info, void *uc, pk__defer_fn fn)
{
	return hold(sig, info, uc, fn, 0);
}

int pk__defer_hold_ordered(int sig, siginfo_t *info, void *uc,
			   pk__defer_fn fn)
{
	return hold(sig, info, uc, fn, 1);
}

/*
 * The oldest signal kept here from first on, delivered: taken off the
 * list before its handler runs, so that a lock the handler takes marks
 * the rest as not its own (core/lock.c) and leaves them to this loop.
 */
static void deliver_late(int first)
{
	struct late one = late[first];
	ucontext_t uc;

	memmove(&late[first], &late[first + 1],
		(size_t)(pk__defer_late - first - 1) * sizeof(late[0]));
	pk__defer_late--;
	memset(&uc, 0, sizeof(uc));
#ifdef __GLIBC__
	/* The registers here, as a signal the kernel delivers at the
	 * release would see (musl has no getcontext: none then). */
	getcontext(&uc);
#endif
	pthread_sigmask(SIG_BLOCK, NULL, &uc.uc_sigmask);
	one.fn(one.info.si_signo, &one.info, &uc);
}

void pk__defer_release(const struct pk__defer_mark *keep)
{
	sigset_t set;
	uint64_t held;

	/* The oldest first: those kept here arrived before what their
	 * signals' blocked bits kept waiting in the kernel. */
	while (pk__defer_late > keep->late)
		deliver_late(keep->late);
	held = pk__defer_held & ~keep->held;
	sigemptyset(&set);
	for (int sig = 1; sig <= 64; sig++)
		if (held & ((uint64_t)1 << (sig - 1)))
			sigaddset(&set, sig);
	pk__defer_held = keep->held;
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
