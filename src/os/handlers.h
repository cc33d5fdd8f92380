/* SPDX-License-Identifier: MIT */
/*
 * The program's signal handlers, where the library stands between them
 * and the kernel (os/handlers.c).  Two ways:
 *   - wrapped: the kernel calls the library's wrapper, which calls the
 *     program's handler through the call hook (on the emulation, the
 *     hook gives the handler the hardware kernel's entry rights and puts
 *     the interrupted rights back when it returns);
 *   - owned: the library's own handler is installed (the emulation's
 *     single-step trap); the program's is kept here, and the library's
 *     handler forwards what is not its own.
 * Either way sigaction(2) tells the program what it installed.  SIGSEGV
 * is neither: api/fault.c keeps that one.
 */
#ifndef PK_OS_HANDLERS_H
#define PK_OS_HANDLERS_H

#include <signal.h>

typedef void (*pk__handler_fn)(int, siginfo_t *, void *);
/* Calls fn(sig, info, uc) with whatever must surround it. */
typedef void (*pk__handler_call_fn)(pk__handler_fn fn, int sig,
				    siginfo_t *info, void *uc);

/*
 * From now on wrap every handler the program has installed and will
 * install, and call each through hook.  Once; async-signal-safe after.
 */
void pk__handlers_wrap_all(pk__handler_call_fn hook);
/* Whether the interposer must send sigaction here. */
int pk__handlers_active(void);
/* Whether the library's own handler is installed for sig. */
int pk__handlers_owned(int sig);
/* sigaction(2) for the program, once active. */
int pk__handlers_action(int sig, const struct sigaction *act,
			struct sigaction *old);
/*
 * The library takes sig: fn is installed; what the program had and
 * will install is kept for pk__handlers_forward.
 */
int pk__handlers_own(int sig, pk__handler_fn fn);
/*
 * Deliver a signal the library's handler does not keep as the kernel
 * would have without it: the program's handler (its mask, SA_RESETHAND),
 * or the default action.
 */
void pk__handlers_forward(int sig, siginfo_t *info, void *uc);

#endif
