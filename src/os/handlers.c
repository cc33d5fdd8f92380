/* SPDX-License-Identifier: MIT */
/*
 * The program's signal handlers behind the library (os/handlers.h).
 *
 * One slot per signal holds what the program installed.  The wrapper
 * reads only the handler's address from it, with one atomic load, so a
 * signal arriving while another thread changes the slot runs the old
 * handler or the new one, never a mix.  It calls every handler with
 * (sig, info, uc): a one-argument handler ignores the other two on the
 * ABIs the library supports.  Changes take a spin lock with every
 * signal blocked, so a handler that calls sigaction never waits for its
 * own thread.  Not instrumented (CMakeLists.txt): sanitizers install
 * their handlers through here.
 *
 * SA_RESETHAND is the wrapper's, not the kernel's: the kernel would put
 * the default back as it delivers, before the wrapper knows whether the
 * signal must wait for the library's lock (os/defer.h), and the signal
 * held back would then meet the default action.  The wrapper puts the
 * default back, in the slot and in the kernel, when it calls the
 * handler.
 *
 * Not reached: handlers installed with sigset(3) or sysv_signal(3),
 * which call the C library's sigaction inside it, and, in a static
 * program, any installed after the first key.
 */
#include <errno.h>
#include <string.h>

#include "os/defer.h"
#include "os/handlers.h"
#include "os/sigaction.h"

struct slot {
	struct sigaction act;	/* what the program installed */
	pk__handler_fn fn;	/* act's handler, for the wrapper */
	int oneshot;		/* act has SA_RESETHAND, for the wrapper */
	int owned;		/* the library's handler is installed */
};

static struct slot slots[_NSIG];
static pk__handler_call_fn call_hook;
static int active, wrapping, lock;

static void take(sigset_t *saved)
{
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, saved);
	while (__atomic_exchange_n(&lock, 1, __ATOMIC_ACQUIRE))
		;
}

static void drop(const sigset_t *saved)
{
	__atomic_store_n(&lock, 0, __ATOMIC_RELEASE);
	pthread_sigmask(SIG_SETMASK, saved, NULL);
}

static int is_function(const struct sigaction *a)
{
	return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;
}

static void call(pk__handler_fn fn, int sig, siginfo_t *info, void *uc)
{
	pk__handler_call_fn hook = __atomic_load_n(&call_hook, __ATOMIC_ACQUIRE);

	if (hook)
		hook(fn, sig, info, uc);
	else
		fn(sig, info, uc);
}

/* What the program installed for sig, for the wrapper too.  Under
 * take(). */
static void set_slot(int sig, const struct sigaction *act)
{
	slots[sig].act = *act;
	__atomic_store_n(&slots[sig].fn, act->sa_sigaction, __ATOMIC_RELEASE);
	__atomic_store_n(&slots[sig].oneshot,
			 is_function(act) && (act->sa_flags & SA_RESETHAND),
			 __ATOMIC_RELEASE);
}

/* SA_RESETHAND as the kernel does it: the default back, the flags and
 * mask kept.  Under take(). */
static void reset_slot(int sig)
{
	struct sigaction dfl = slots[sig].act;

	dfl.sa_handler = SIG_DFL;
	set_slot(sig, &dfl);
}

/*
 * A one-shot handler about to be called: the default back first, in
 * the kernel too, so the next signal meets it.  Returns the handler to
 * call: the slot's now, when another thread's delivery took it first.
 */
static pk__handler_fn use_oneshot(int sig)
{
	struct sigaction a;
	sigset_t saved;

	take(&saved);
	a = slots[sig].act;
	if (is_function(&a) && (a.sa_flags & SA_RESETHAND)) {
		reset_slot(sig);
		pk__sigaction_real(sig, &slots[sig].act, NULL);
	} else {
		a.sa_sigaction = slots[sig].fn;
	}
	drop(&saved);
	return a.sa_sigaction;
}

/* The program's handler for a signal the wrapper took. */
static void run(int sig, siginfo_t *info, void *uc)
{
	pk__handler_fn fn;

	if (__atomic_load_n(&slots[sig].oneshot, __ATOMIC_ACQUIRE))
		fn = use_oneshot(sig);
	else
		fn = __atomic_load_n(&slots[sig].fn, __ATOMIC_ACQUIRE);

	/* A slot reset to the default while this signal was on its way
	 * (sa_handler and sa_sigaction share their place). */
	struct sigaction a = {.sa_sigaction = fn};

	if (!is_function(&a))
		return;
	call(fn, sig, info, uc);
}

/* The handler's mask, as the kernel blocks it around the handler. */
static void block_as_kernel(const struct sigaction *a, int sig,
			    sigset_t *saved)
{
	sigset_t mask = a->sa_mask;

	if (!(a->sa_flags & SA_NODEFER))
		sigaddset(&mask, sig);
	pthread_sigmask(SIG_BLOCK, &mask, saved);
}

/* A signal held back that the lock's release delivers itself
 * (os/defer.c): the handler's mask blocked here, as the kernel would. */
static void late(int sig, siginfo_t *info, void *uc)
{
	struct sigaction a;
	sigset_t saved;

	take(&saved);
	a = slots[sig].act;
	drop(&saved);
	block_as_kernel(&a, sig, &saved);
	run(sig, info, uc);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}

static void wrapper(int sig, siginfo_t *info, void *uc)
{
	/* Inside the library's lock: for after it (os/defer.h). */
	if (!pk__defer_hold_ordered(sig, info, uc, late))
		run(sig, info, uc);
}

/* Signals the library must never wrap: its own and the unstoppable. */
static int wrappable(int sig)
{
	return sig > 0 && sig < _NSIG && sig != SIGSEGV && sig != SIGKILL &&
	       sig != SIGSTOP && sig != SIGRTMAX - 3;
}

/* Tell the kernel act, with the wrapper for the program's handler. */
static int install_wrapped(int sig, const struct sigaction *act)
{
	struct sigaction k = *act;

	if (!is_function(act))
		return pk__sigaction_real(sig, act, NULL);
	set_slot(sig, act);
	k.sa_sigaction = wrapper;
	k.sa_flags |= SA_SIGINFO;
	k.sa_flags &= ~SA_RESETHAND;
	return pk__sigaction_real(sig, &k, NULL);
}

void pk__handlers_wrap_all(pk__handler_call_fn hook)
{
	struct sigaction cur;
	sigset_t saved;

	take(&saved);
	if (!wrapping) {
		__atomic_store_n(&call_hook, hook, __ATOMIC_RELEASE);
		for (int sig = 1; sig < _NSIG; sig++) {
			if (!wrappable(sig) || slots[sig].owned ||
			    pk__sigaction_real(sig, NULL, &cur) ||
			    !is_function(&cur) || cur.sa_sigaction == wrapper)
				continue;
			install_wrapped(sig, &cur);
		}
		wrapping = 1;
		__atomic_store_n(&active, 1, __ATOMIC_RELEASE);
	}
	drop(&saved);
}

int pk__handlers_active(void)
{
	return __atomic_load_n(&active, __ATOMIC_ACQUIRE);
}

int pk__handlers_owned(int sig)
{
	return sig > 0 && sig < _NSIG &&
	       __atomic_load_n(&slots[sig].owned, __ATOMIC_ACQUIRE);
}

int pk__handlers_action(int sig, const struct sigaction *act,
			struct sigaction *old)
{
	struct sigaction was;
	sigset_t saved;
	int rc = 0;

	if (!wrappable(sig) || (!wrapping && !slots[sig].owned))
		return pk__sigaction_real(sig, act, old);
	take(&saved);
	if (slots[sig].owned) {
		was = slots[sig].act;
		if (act)
			set_slot(sig, act);
	} else {
		rc = pk__sigaction_real(sig, NULL, &was);
		/* After a one-shot handler ran, the kernel has the
		 * default (use_oneshot); before, the wrapper. */
		if (rc == 0 && was.sa_sigaction == wrapper)
			was = slots[sig].act;
		if (rc == 0 && act)
			rc = install_wrapped(sig, act);
	}
	drop(&saved);
	if (rc == 0 && old)
		*old = was;
	return rc;
}

int pk__handlers_own(int sig, pk__handler_fn fn)
{
	struct sigaction was, k;
	sigset_t saved;
	int rc = 0;

	if (!wrappable(sig))
		return -EINVAL;
	take(&saved);
	if (!slots[sig].owned) {
		rc = pk__sigaction_real(sig, NULL, &was);
		if (rc == 0 && was.sa_sigaction == wrapper)
			was = slots[sig].act;
		memset(&k, 0, sizeof(k));
		k.sa_sigaction = fn;
		k.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
		sigemptyset(&k.sa_mask);
		if (rc == 0)
			rc = pk__sigaction_real(sig, &k, NULL);
		if (rc == 0) {
			set_slot(sig, &was);
			__atomic_store_n(&slots[sig].owned, 1,
					 __ATOMIC_RELEASE);
			__atomic_store_n(&active, 1, __ATOMIC_RELEASE);
		}
	}
	drop(&saved);
	return rc ? -errno : 0;
}

void pk__handlers_forward(int sig, siginfo_t *info, void *uc)
{
	struct sigaction a, dfl;
	sigset_t mask, saved;

	take(&saved);
	a = slots[sig].act;
	if (is_function(&a) && (a.sa_flags & SA_RESETHAND))
		reset_slot(sig);
	drop(&saved);
	/* Ignored: dropped, unless the CPU raised it (si_code > 0), which
	 * the kernel never lets a program ignore: it kills instead. */
	if (a.sa_handler == SIG_IGN && (!info || info->si_code <= 0))
		return;
	if (!is_function(&a)) {
		/* The default action, now: these signals' is to dump core. */
		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		pk__sigaction_real(sig, &dfl, NULL);
		sigemptyset(&mask);
		sigaddset(&mask, sig);
		pthread_sigmask(SIG_UNBLOCK, &mask, NULL);
		raise(sig);
		return;
	}
	block_as_kernel(&a, sig, &saved);
	call(a.sa_sigaction, sig, info, uc);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
}
