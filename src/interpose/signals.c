/* SPDX-License-Identifier: MIT */
/*
 * The shared library's sigaction and signal.  For SIGSEGV the library's
 * handler stays first, so that pk_try and key faults keep working
 * whatever the program installs, and hands the program's handler each
 * fault as Linux reports a key fault (api/fault.c, pk__segv_sigaction).
 * Other signals go straight on until the library stands between the
 * program's handlers and the kernel (os/handlers.c): on the emulation
 * once a key exists, so that they start with the rights the hardware's
 * kernel gives a handler (api/entry.c).
 *
 * Until the library is in use (no backend chosen yet: no key exists),
 * SIGSEGV goes straight on too: a sanitizer's runtime installs its
 * handlers through here before it can run instrumented code, and the
 * library records whatever is installed when it installs its own.
 * Not instrumented, for the same reason (CMakeLists.txt).
 */
#include <errno.h>
#include <signal.h>

#include "api/api.h"
#include "backend/select.h"
#include "interpose/interpose.h"
#include "os/handlers.h"
#include "os/sigaction.h"
#include "pkeys.h"

PK_API int sigaction(int sig, const struct sigaction *act,
		     struct sigaction *old)
{
	if (sig != SIGSEGV)
		return pk__handlers_active()
			       ? pk__handlers_action(sig, act, old)
			       : pk__sigaction_real(sig, act, old);
	if (__atomic_load_n(&pk__ready_backend, __ATOMIC_ACQUIRE) ==
	    &pk__backend_unchosen)
		return pk__sigaction_real(sig, act, old);
	return pk__segv_sigaction(act, old);
}

typedef void (*handler_fn)(int);
typedef handler_fn (*signal_fn)(int, handler_fn);

/*
 * Other signals: the C library's signal(), which keeps siginterrupt(3)'s
 * choice, and then, where the library stands between handlers and the
 * kernel, the handler it installed wrapped (a signal in between finds it
 * unwrapped) and the program's previous handler as the answer.
 */
static handler_fn signal_other(int sig, handler_fn handler)
{
	struct sigaction was, now;
	handler_fn old;
	int wrapped = pk__handlers_active();

	NEXT(signal_fn, signal);
	if (!next_signal) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	if (wrapped && pk__handlers_action(sig, NULL, &was))
		return SIG_ERR;
	old = next_signal(sig, handler);
	if (old == SIG_ERR || !wrapped)
		return old;
	if (pk__sigaction_real(sig, NULL, &now) == 0)
		pk__handlers_action(sig, &now, NULL);
	return was.sa_handler;
}

PK_API handler_fn signal(int sig, handler_fn handler)
{
	struct sigaction sa, old;

	/* A signal the library's own handler serves (os/handlers.h) is
	 * set as SIGSEGV's is: the C library's signal() would replace
	 * that handler in the kernel. */
	if (sig != SIGSEGV && !pk__handlers_owned(sig))
		return signal_other(sig, handler);
	if (handler == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	/* glibc's signal(): BSD semantics, the handler stays installed. */
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, sig);
	if (sigaction(sig, &sa, &old))
		return SIG_ERR;
	return old.sa_handler;
}
