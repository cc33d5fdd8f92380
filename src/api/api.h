/* SPDX-License-Identifier: MIT */
/* What the public calls share with the interposers (src/interpose/). */
#ifndef PK_API_API_H
#define PK_API_API_H

#include <signal.h>
#include <stddef.h>

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

#endif
