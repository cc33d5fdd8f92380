/* SPDX-License-Identifier: MIT */
/*
 * Raw protection system calls: never interposed.  Every protection
 * change the library makes goes through these, so a test can make the
 * n-th one fail (pk__test_fail_protect, in builds with BUILD_TESTING
 * only).  Both return 0, or -1 with
 * errno set, as the system calls do.
 */
#ifndef PK_OS_SYS_H
#define PK_OS_SYS_H

#include <stddef.h>

#include "pkeys.h"

long pk__sys_mprotect(void *addr, size_t len, int prot);
/*
 * syscall(2) for the mapping calls the library makes (mmap, munmap,
 * mremap, mprotect, pkey_mprotect), made from the library's own code:
 * under `pkeys run` a seccomp filter traps those calls when they come
 * from the C library's syscall() (compat/syscall_trap.c), and the
 * library's own must not be.  Returns as syscall(2) does.
 */
long pk__syscall6(long nr, long a, long b, long c, long d, long e, long f);
#define pk__syscall(...) PK__SYSCALL_(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)
#define PK__SYSCALL_(nr, a, b, c, d, e, f, ...)                            \
	pk__syscall6((long)(nr), (long)(a), (long)(b), (long)(c), (long)(d), \
		     (long)(e), (long)(f))
/* key 0..n, or -1 to keep each page's key; no pkey_mprotect: ENOSYS. */
long pk__sys_pkey_mprotect(void *addr, size_t len, int prot, int key);
/*
 * pkey_alloc(2) and pkey_free(2), or -1 with ENOSYS where `pkeys run`
 * traps them (the library's own trials: see os/sys.c).
 */
long pk__sys_pkey_alloc(unsigned long flags, unsigned long rights);
long pk__sys_pkey_free(long key);
#ifdef PKEYS_TEST_HOOKS
PK_API void pk__test_fail_protect(int nth, int err);
#endif

#endif
