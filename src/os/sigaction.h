/* SPDX-License-Identifier: MIT */
/*
 * The C library's sigaction (os/sigaction.c), past the library's own
 * interposer (interpose/signals.c): what the kernel is to be told.
 */
#ifndef PK_OS_SIGACTION_H
#define PK_OS_SIGACTION_H

#include <signal.h>

typedef int (*pk__sigaction_fn)(int, const struct sigaction *,
				struct sigaction *);

/* As sigaction(2).  Async-signal-safe once called (resolves at first). */
int pk__sigaction_real(int sig, const struct sigaction *act,
		       struct sigaction *old);

#endif
