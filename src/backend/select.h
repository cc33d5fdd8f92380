/* SPDX-License-Identifier: MIT */
/*
 * The backend in use: chosen once per process, at the first call that
 * needs it, and cached.  PKEYS_BACKEND=hw|emu|auto overrides the choice
 * (ignored in setuid and setgid programs).
 */
#ifndef PK_BACKEND_SELECT_H
#define PK_BACKEND_SELECT_H

#include <stddef.h>

#include "backend/backend.h"

/* The backend, chosen now if not yet; NULL if none can work. */
const struct pk__backend *pk__backend(void);
/* The backend if one was already chosen, else NULL; never chooses
 * (async-signal-safe). */
const struct pk__backend *pk__backend_peek(void);
/* 0, or why no backend works (-EOPNOTSUPP, -EINVAL). */
int pk__init_status(void);
/*
 * The backend when pk_init succeeds, else NULL (pk__init_status says
 * why).  Once chosen, one load: the rights calls' fast path.  Before,
 * pk__ready_backend is pk__backend_unchosen, whose set and get choose
 * first, so pk_set and pk_get need no test for it.  Declared hidden, so
 * that the library's own code loads it directly, not through the GOT.
 */
extern const struct pk__backend *pk__ready_backend
	__attribute__((visibility("hidden")));
extern const struct pk__backend pk__backend_unchosen;
const struct pk__backend *pk__ready_slow(void);

static inline const struct pk__backend *pk__ready(void)
{
	const struct pk__backend *b =
		__atomic_load_n(&pk__ready_backend, __ATOMIC_ACQUIRE);

	return b != &pk__backend_unchosen ? b : pk__ready_slow();
}
/* One line: which backend and why. */
const char *pk__backend_reason(void);
/*
 * The backend this process would choose, and why (as
 * pk__backend_reason), by the probes alone: no backend initialised,
 * nothing sealed or registered, the choice itself not made (pk_init
 * later chooses afresh), for a process that passes the choice on and
 * uses no key itself (pkeys run: the command it execs chooses the same
 * way, in its own copy of the library).  The exact mode's probe installs
 * its signal handlers (gone with the exec).  NULL when none works.
 */
const struct pk__backend *pk__backend_probe(char *why, size_t len);

#endif
