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

/* What a thread's lock never blocked: raised by what it executes. */
static int synchronous(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL ||
	       sig == SIGFPE || sig == SIGTRAP || sig == SIGSYS;
}

int pk__defer_hold(int sig, siginfo_t *info, void *uc)
{
	pid_t pid, tid;
	sigset_t one;
	siginfo_t again;
	int saved_errno;

	if (!__atomic_load_n(&pk__defer_busy, __ATOMIC_RELAXED) ||
	    synchronous(sig) || sig < 1 || sig > 64)
		return 0;
	saved_errno = errno;
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_BLOCK, &one, NULL);
	sigaddset(&((ucontext_t *)uc)->uc_sigmask, sig);
	pid = getpid();
	tid = (pid_t)syscall(SYS_gettid);
	memcpy(&again, info, sizeof(again));
	/* Fails only when the queue of real-time signals is full: then
	 * the kernel would have dropped it too. */
	(void)syscall(SYS_rt_tgsigqueueinfo, pid, tid, sig, &again);
	pk__defer_held |= (uint64_t)1 << (sig - 1);
	errno = saved_errno;
	return 1;
}

void pk__defer_release(uint64_t keep)
{
	sigset_t set;
	uint64_t held = pk__defer_held & ~keep;

	sigemptyset(&set);
	for (int sig = 1; sig <= 64; sig++)
		if (held & ((uint64_t)1 << (sig - 1)))
			sigaddset(&set, sig);
	pk__defer_held = keep;
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
