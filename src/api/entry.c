/* SPDX-License-Identifier: MIT */
/*
 * The rights a program's signal handler starts with on the emulation.
 *
 * The hardware's kernel starts every handler with fixed rights (x86:
 * every key but 0 access-disabled; POWER keeps the interrupted rights)
 * and puts the interrupted rights back from the signal frame when the
 * handler returns; a handler that leaves by siglongjmp keeps its own.
 * On a CPU without keys the frame has no room for them, so the library
 * calls the handler itself (os/handlers.c for every signal, api/fault.c
 * for SIGSEGV) and does the same around the call.  On the hardware
 * backend the kernel does it all, and nothing here runs.
 *
 * Costs what the rights changes cost: nothing when the thread holds no
 * rights beyond the entry rights (the common case in a handler that
 * runs often), one pk_set's worth per key it holds open, twice.
 */
#include <errno.h>

#include "api/api.h"
#include "arch/arch.h"
#include "backend/select.h"
#include "core/keys.h"
#include "os/defer.h"
#include "os/handlers.h"

#if defined(PK__ARCH_HANDLER_RESETS) && PK__ARCH_HANDLER_RESETS
#define ENTRY_RIGHTS 1
#else
#define ENTRY_RIGHTS 0
#endif
#define NOT_HELD 0xff

static void enter(const struct pk__backend *b, unsigned char *saved)
{
	for (int k = 1; k < PK__KEYS; k++) {
		int r = pk__key_allocated(k) ? b->get(k) : -1;

		saved[k] = r < 0 ? NOT_HELD : (unsigned char)r;
		if (r >= 0 && r != PK_DISABLE_ACCESS)
			b->set(k, PK_DISABLE_ACCESS);
	}
}

static void leave(const struct pk__backend *b, const unsigned char *saved)
{
	for (int k = 1; k < PK__KEYS; k++)
		if (saved[k] != NOT_HELD && b->get(k) != saved[k])
			b->set(k, saved[k]);
}

void pk__entry_call(pk__handler_fn fn, int sig, siginfo_t *info, void *uc)
{
	const struct pk__backend *b = pk__backend_peek();
	unsigned char rights[PK__KEYS];
	int saved_errno = errno;

	if (!ENTRY_RIGHTS || !b || b->hardware) {
		fn(sig, info, uc);
		return;
	}
	enter(b, rights);
	errno = saved_errno;
	fn(sig, info, uc);
	saved_errno = errno;
	leave(b, rights);
	errno = saved_errno;
}

void pk__signals_emulate(void)
{
	const struct pk__backend *b = pk__backend_peek();
	static int done;

	if (ENTRY_RIGHTS && b && !b->hardware &&
	    !__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
		pk__handlers_wrap_all(pk__entry_call);
		/* Every handler goes through the wrapper now: the lock may
		 * hold signals back instead of blocking them. */
		(void)pk__defer_enable();
		__atomic_store_n(&done, 1, __ATOMIC_RELEASE);
	}
}
