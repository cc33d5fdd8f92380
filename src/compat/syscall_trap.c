/* SPDX-License-Identifier: MIT */
/*
 * Protection key system calls made directly (syscall(2), or inline
 * assembly), under `pkeys run` on the emulation: they would reach the
 * kernel, which has no keys to give here, and bypass the library.  A
 * seccomp filter (installed once, by the first preloaded process of a
 * `pkeys run`, and inherited by every process it starts) turns
 * pkey_alloc, pkey_free and pkey_mprotect into SIGSYS; the library's
 * handler carries each out with the glibc layer (the same numbers, the
 * same errors) and puts the result where the kernel would.  The
 * emulation itself never makes these calls, so the filter needs no
 * exception for the library (its trial of the kernel's keys, while it
 * chooses a backend, gets ENOSYS).  Any other SIGSYS (a filter of the
 * program's own) reaches the program's handler unchanged.
 *
 * A filter needs no_new_privs (unless the process may administer the
 * system): set-user-ID programs the command starts run without their
 * privileges.  A program that installs a filter of its own keeps it;
 * where both decide on one of the three calls, the kernel takes the
 * stricter answer (its kill or trap over this trap; this trap over its
 * errno).  Mapping calls made directly (mmap, mprotect, munmap, mremap)
 * are not trapped: the library makes those calls the same way.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pkeys.h>
#include <pkeys/glibc.h>

#include "arch/arch.h"
#include "backend/select.h"
#include "compat/syscall_trap.h"
#include "os/handlers.h"

/* si_code of a seccomp trap (not in every C library's headers). */
#ifndef SYS_SECCOMP
#define SYS_SECCOMP 1
#endif

/* SECCOMP_RET_DATA of the library's trap: tells its SIGSYS apart. */
#define TRAP_DATA 0x706b

/* The glibc layer's result as the kernel gives it: value or -errno. */
static long kernel_result(int rc)
{
	return rc < 0 ? -(long)errno : rc;
}

static void on_sigsys(int sig, siginfo_t *info, void *uc)
{
	long a[6], rv = -ENOSYS;
	int saved = errno;

	if (info->si_code != SYS_SECCOMP || info->si_errno != TRAP_DATA) {
		pk__handlers_forward(sig, info, uc);
		return;
	}
	pk__arch_syscall_args(uc, a);
#if defined(SYS_pkey_alloc)
	/*
	 * No backend yet: the library is choosing one (pk__syscall_trap
	 * chooses before the program runs) and tries the kernel's keys:
	 * the answer of a kernel without them.
	 */
	if (!pk__backend_peek())
		rv = -ENOSYS;
	else if (info->si_syscall == SYS_pkey_alloc)
		rv = kernel_result(pkeys_pkey_alloc((unsigned)a[0],
						    (unsigned)a[1]));
	else if (info->si_syscall == SYS_pkey_free)
		rv = kernel_result(pkeys_pkey_free((int)a[0]));
	else if (info->si_syscall == SYS_pkey_mprotect)
		rv = kernel_result(pkeys_pkey_mprotect((void *)a[0],
						       (size_t)a[1], (int)a[2],
						       (int)a[3]));
#endif
	pk__arch_syscall_return(uc, rv);
	errno = saved;
}

static int install_filter(void)
{
#if defined(SYS_pkey_alloc) && defined(SECCOMP_RET_TRAP)
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PK__ARCH_AUDIT, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pkey_alloc, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pkey_free, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pkey_mprotect, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP | TRAP_DATA),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) ? -errno
									: 0;
#else
	return -ENOSYS;
#endif
}

int pk__syscall_trap(int filter)
{
	static int done;
	int rc;

	if (!PK__ARCH_SYSCALL_TRAP)
		return -EOPNOTSUPP;
	if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return 0;
	/* The handler first: an inherited filter traps already.  Then the
	 * backend, so that the program's first call finds it chosen. */
	rc = pk__handlers_own(SIGSYS, on_sigsys);
	if (rc == 0)
		pk_init();
	if (rc == 0 && filter)
		rc = install_filter();
	return rc;
}
