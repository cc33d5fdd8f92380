/* SPDX-License-Identifier: MIT */
/*
 * The backend contract.  A backend enforces keys and rights; the core
 * (src/core/) owns the key table, the thread records and the registry
 * of keyed ranges, the public calls (src/api/) validate arguments, and
 * the library's lock (core/lock.h) serialises everything that changes
 * them.  A backend is one file that fills in this struct, listed in
 * backend/select.c's table.  The hardware backend (backend/hw.c) is
 * generic over the CPU primitives of src/arch/: a new CPU family with
 * Linux protection keys needs a file there, not a new backend.
 *
 * Key numbers given to a backend are always in 1..nkeys-1 and, except
 * for key_alloc's result and set's and get's, currently allocated; set
 * and get check that themselves, off their fast path (-EINVAL), and
 * return only the errors pk_set(3) lists (core/errors.h), since pk_set
 * and pk_get pass their results on as they are.  Rights are already
 * checked to be PK_DISABLE_* bits.
 */
#ifndef PK_BACKEND_H
#define PK_BACKEND_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct pk__backend {
	const char *name;
	/* Hardware keys (PKEYS_BACKEND=hw asks for it), or an emulation. */
	int hardware;
	/* Keys the backend can name, key 0 included. */
	int nkeys;
	/* One line for pk_info: what the backend enforces. */
	const char *guarantee;
	/*
	 * Whether the kernel's protection of keyed pages may be narrowed by
	 * rights (the emulation; evicted virtual keys on hardware), so that
	 * the program's own protection comes from the registry rather than
	 * from the kernel, and plain mprotect calls must go through it.
	 */
	int narrows;

	/*
	 * Decide whether the backend works on this machine.  Called once,
	 * before any other operation.  Returns 0, or -errno and writes the
	 * reason to why (NUL-terminated, at most len bytes).  It must not
	 * execute an instruction the CPU may lack.
	 */
	int (*probe)(char *why, size_t len);

	/*
	 * Pick a free key number (pk__key_allocated tells which are taken)
	 * and prepare it.  Called with the lock held; the core then sets
	 * every thread's initial rights and calls set_all.  Returns the key
	 * or -ENOSPC.
	 */
	int (*key_alloc)(unsigned rights);

	/* Release a key no page carries.  Lock held.  Returns 0. */
	int (*key_free)(int key);

	/*
	 * Give whole pages [addr, addr+len), all mapped within one kernel
	 * mapping or several, protection prot and key: 0..nkeys-1, or -1
	 * for "whatever key the kernel has" (pages with no assignment).  Called
	 * with the lock held, before the registry is updated.  Returns 0 or
	 * -errno; on failure the pages are as before (the core makes one
	 * call per mapping, so the kernel never fails half-way).
	 */
	int (*protect)(void *addr, size_t len, int prot, int key);

	/*
	 * Set / read the calling thread's rights for key.  set returns 0 or
	 * -errno with the rights unchanged; get returns the rights.  Both
	 * are async-signal-safe: the hardware backend uses no lock and no
	 * system call, the emulation takes the lock with signals blocked.
	 * set_many sets n (at most PK_DOMAIN_MAX) keys in one step, all or
	 * nothing: one register write on hardware.
	 */
	int (*set)(int key, unsigned rights);
	int (*set_many)(const int *keys, const unsigned *rights, int n);
	int (*get)(int key);

	/*
	 * Every thread's record (and the key's initial rights) now says
	 * what each thread holds for key: make it so for all threads before
	 * returning.  Lock held.  Returns 0 or -errno; the core undoes
	 * the records on failure and calls it again.
	 */
	int (*set_all)(int key);

	/* A thread left (exit, or fork's child).  Lock held. */
	void (*threads_changed)(void);

	/* Keys pk_key_alloc can still give.  Lock held. */
	int (*available)(void);

	/*
	 * Given a SIGSEGV, its ucontext and the access kind, return the key
	 * that stopped the access, or -1 when keys did not cause it, and
	 * store the faulting thread's rights for that key in *rights (the
	 * rights at the moment of the fault, not the signal handler's).
	 * May take the lock (emulation) or read only the signal frame
	 * (hardware).
	 */
	int (*fault_key)(const siginfo_t *info, const void *uc, int access,
			 unsigned *rights);

	/*
	 * The emulation's exact mode: a SIGSEGV from pages kept closed for
	 * other threads' sake, which the faulting thread's own rights
	 * allow, is let through (1: return from the handler); 0 when the
	 * fault is not such a one.  NULL elsewhere.  In the handler, first.
	 */
	int (*step)(siginfo_t *info, void *uc);

	/*
	 * For backends whose signal handlers do not run with the thread's
	 * rights (hardware): frame_rights reads the interrupted thread's
	 * rights from the signal frame (0, or -1 if it cannot), in the
	 * handler; restore_rights makes them the calling thread's again
	 * after a siglongjmp.  NULL where rights survive signals.
	 */
	int (*frame_rights)(const void *uc, uint64_t *raw);
	void (*restore_rights)(uint64_t raw);

	/*
	 * The signal the backend sends to reach other threads, which a new
	 * thread must not receive before its record is set (NULL: none).
	 */
	int (*sync_signal)(void);

	/* Called once after probe succeeded, before any other call. */
	int (*init)(void);
};

extern const struct pk__backend pk__backend_hw;
extern const struct pk__backend pk__backend_emu;

#endif
