/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/arch.h"
#include "os/sys.h"

#ifdef PKEYS_TEST_HOOKS
/* Test hook: the nth protection call from now fails with err. */
static int fail_countdown, fail_err;

void pk__test_fail_protect(int nth, int err)
{
	__atomic_store_n(&fail_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&fail_countdown, nth, __ATOMIC_RELAXED);
}

static int injected(void)
{
	if (__atomic_load_n(&fail_countdown, __ATOMIC_RELAXED) <= 0 ||
	    __atomic_sub_fetch(&fail_countdown, 1, __ATOMIC_RELAXED) != 0)
		return 0;
	errno = fail_err;
	return 1;
}
#else
/* Release builds (without BUILD_TESTING) have no hook. */
static int injected(void)
{
	return 0;
}
#endif

long pk__syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	long rv = pk__arch_syscall6(nr, a, b, c, d, e, f);

	if (rv < 0 && rv > -4096) {
		errno = (int)-rv;
		return -1;
	}
	return rv;
}

long pk__sys_mprotect(void *addr, size_t len, int prot)
{
	if (injected())
		return -1;
	return pk__syscall(SYS_mprotect, addr, len, prot);
}

long pk__sys_pkey_mprotect(void *addr, size_t len, int prot, int key)
{
	if (injected())
		return -1;
#ifdef SYS_pkey_mprotect
	return pk__syscall(SYS_pkey_mprotect, addr, len, prot, key);
#else
	if (key > 0) {
		errno = ENOSYS;
		return -1;
	}
	return pk__syscall(SYS_mprotect, addr, len, prot);
#endif
}

/*
 * Under `pkeys run` on the emulation a seccomp filter traps direct pkey
 * system calls (compat/syscall_trap.c), and a process the preload
 * library does not reach (a static one, such as the pkeys tool) has no
 * handler for the trap: the library's own trials of the kernel's keys
 * must not make them there.  Where they are trapped, the kernel has no
 * keys to give anyway, or the emulation was asked for.
 */
static int trapped(void)
{
	const char *v = secure_getenv("PKEYS_RUN_SYSCALLS");

	return v && (strcmp(v, "trap") == 0 || strcmp(v, "trapped") == 0);
}

long pk__sys_pkey_alloc(unsigned long flags, unsigned long rights)
{
#ifdef SYS_pkey_alloc
	if (!trapped())
		return syscall(SYS_pkey_alloc, flags, rights);
#endif
	(void)flags;
	(void)rights;
	errno = ENOSYS;
	return -1;
}

long pk__sys_pkey_free(long key)
{
#ifdef SYS_pkey_free
	if (!trapped())
		return syscall(SYS_pkey_free, key);
#endif
	(void)key;
	errno = ENOSYS;
	return -1;
}
