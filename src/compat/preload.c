/* SPDX-License-Identifier: MIT */
/*
 * libpkeys_preload.so: glibc's own pkey_* names, for programs built
 * against glibc, run with LD_PRELOAD by `pkeys run` (tools/pkeys.c) on
 * machines without hardware keys.
 *
 * The library is the same objects as libpkeys.so, this file added.  It
 * must be: a preloaded library's dependencies come after libc in the
 * lookup order, so a preload that merely linked libpkeys.so would leave
 * its mmap, munmap, mremap, mprotect and pthread_create unreached, and
 * the emulation blind to the program's own memory calls.  Built in,
 * they come before libc's, as the definitions below do before glibc's
 * pkey_* (whose pkey_set and pkey_get would execute the rights
 * register's instructions, and fault, on a CPU without keys).  The
 * names are unversioned, so they satisfy a program's references to
 * pkey_alloc@GLIBC_2.27 and the rest.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pkeys/glibc.h>

#include "api/api.h"
#include "compat/syscall_trap.h"

/* The definitions below are glibc's names, not the header's macros. */
#undef pkey_alloc
#undef pkey_free
#undef pkey_mprotect
#undef pkey_set
#undef pkey_get

/*
 * Under `pkeys run` (which sets PKEYS_RUN_REPORT=1), a key fault prints
 * the library's report (pk_fault_report(3)) before the default action,
 * unless the program installs a SIGSEGV handler of its own.  It turns
 * on with the program's first key (api/fault.c), from glibc's
 * pkey_alloc or from a trapped system call alike, so that programs
 * without keys (a build's many children) pay nothing: readying the
 * report loads the unwinder and libdw, about 1.4 ms per process here.
 */
__attribute__((constructor)) static void report_faults(void)
{
	const char *v = getenv("PKEYS_RUN_REPORT");

	if (v && strcmp(v, "1") == 0)
		pk__fault_report_at_first_key();
}

/*
 * `pkeys run` on the emulation sets PKEYS_RUN_SYSCALLS=trap (unless the
 * user set it): the first process installs the seccomp filter that
 * turns direct pkey system calls into SIGSYS (compat/syscall_trap.c)
 * and leaves "trapped" for the processes it starts, which inherit the
 * filter and add their own (for their own C library's syscall()).
 * Before main: a program may make such a call first thing.
 */
__attribute__((constructor)) static void trap_syscalls(void)
{
	const char *v = getenv("PKEYS_RUN_SYSCALLS");
	int rc;

	if (!v)
		return;
	if (strcmp(v, "trap") == 0) {
		rc = pk__syscall_trap(1);
		if (rc == 0)
			setenv("PKEYS_RUN_SYSCALLS", "trapped", 1);
		else if (rc != -EOPNOTSUPP)
			fprintf(stderr, "pkeys run: direct pkey system calls "
					"go to the kernel: no seccomp filter "
					"(%s)\n", strerror(-rc));
	} else if (strcmp(v, "trapped") == 0) {
		/* The key calls' filter is inherited; the mapping calls'
		 * comes with this process's first key, naming its own
		 * syscall() (compat/syscall_trap.c). */
		pk__syscall_trap(0);
	}
}

/* glibc's declarations (<sys/mman.h>) check that the signatures match. */
PK_API int pkey_alloc(unsigned int flags, unsigned int access_rights)
{
	return pkeys_pkey_alloc(flags, access_rights);
}

PK_API int pkey_free(int key)
{
	return pkeys_pkey_free(key);
}

PK_API int pkey_mprotect(void *addr, size_t len, int prot, int key)
{
	return pkeys_pkey_mprotect(addr, len, prot, key);
}

PK_API int pkey_set(int key, unsigned int access_rights)
{
	return pkeys_pkey_set(key, access_rights);
}

PK_API int pkey_get(int key)
{
	return pkeys_pkey_get(key);
}

