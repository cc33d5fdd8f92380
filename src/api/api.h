/* SPDX-License-Identifier: MIT */
/* What the public calls share with the interposers (src/interpose/). */
#ifndef PK_API_API_H
#define PK_API_API_H

#include <signal.h>
#include <stddef.h>

#include "os/handlers.h"

/*
 * pk_mprotect; strict 0 gives mprotect(2)'s leniency (NULL address,
 * unknown prot bits passed on to the kernel) and only mprotect(2)'s
 * errors, for the interposed call.
 */
int pk__mprotect(void *addr, size_t len, int prot, int key, int strict);

/*
 * Anonymous private memory for the library's own use (a heap's
 * bookkeeping and reservation): placed where no persistent assignment
 * lies, so it never takes a program's key, and unknown to the registry.
 * mmap(2)'s result and errno.  Free it with munmap(2).
 */
void *pk__map_own(size_t len, int prot, int flags);

/*
 * The program's sigaction(SIGSEGV), from the interposer
 * (interpose/signals.c): sigaction(2)'s result and errno (api/fault.c).
 */
int pk__segv_sigaction(const struct sigaction *act, struct sigaction *old);

/*
 * After a key exists: on the emulation, where the hardware's kernel
 * starts handlers with fixed rights, every handler of the program's
 * starts with them too (api/entry.c).  Not under the lock.
 */
void pk__signals_emulate(void);
/*
 * A key was allocated: the signal handling the backend needs from then
 * on (api/fault.c): on the emulation the library's SIGSEGV handler (a
 * program's handler gets key faults as Linux reports them; the exact
 * mode lets accesses through there), and pk__signals_emulate.
 */
void pk__fault_first_key(void);
/*
 * Under `pkeys run`: the report (pk_fault_report(3)) turns on with the
 * process's first key, whether it came from a call or from a trapped
 * system call (compat/preload.c).
 */
void pk__fault_report_at_first_key(void);
/*
 * Called after each key allocation that succeeded, when set: under
 * `pkeys run`, the trap of the program's own mapping system calls
 * starts with its first key (compat/syscall_trap.c).  May run in the
 * SIGSYS handler of a trapped pkey_alloc: async-signal-safe work only.
 */
extern void (*pk__key_allocated_hook)(void);
/* Call a program's handler fn as the hardware's kernel would: with the
 * entry rights, and the interrupted rights back when it returns. */
void pk__entry_call(pk__handler_fn fn, int sig, siginfo_t *info, void *uc);

#endif
