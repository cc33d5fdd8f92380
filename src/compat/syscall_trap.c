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
 * exception for the library (its trials of the kernel's keys skip the
 * calls under the filter: os/sys.c).  Any other SIGSYS (a filter of the
 * program's own) reaches the program's handler unchanged.
 *
 * A filter needs no_new_privs (unless the process may administer the
 * system): set-user-ID programs the command starts run without their
 * privileges.  A program that installs a filter of its own keeps it;
 * where both decide on one of the three calls, the kernel takes the
 * stricter answer (its kill or trap over this trap; this trap over its
 * errno).
 *
 * Mapping calls (mmap, munmap, mremap, mprotect) made through the C
 * library's syscall() are trapped too, and go through the library's
 * interposed functions, so that its record of keyed memory stays true:
 * a second filter compares the calling instruction's address with
 * syscall()'s, which the C library's own mapping functions and the
 * library's inline calls (os/sys.h) never are.  Each process installs
 * that one itself (its C library lies elsewhere), with its first key:
 * before, it has no keyed memory, and a process that never allocates
 * a key (most of a build's) pays for no filter but the inherited one,
 * which the kernel answers from its cache for every call but the three
 * key calls.  A mapping filter inherited across execve names a place
 * the new program's C library almost surely does not occupy, so it
 * traps nothing there.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pkeys/glibc.h>

#include "arch/arch.h"
#include "api/api.h"
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

static long map_result(void *p)
{
	return p == MAP_FAILED ? -(long)errno : (long)p;
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
	/* (The library's own trials of the kernel's keys never come here:
	 * os/sys.c skips them under the filter.) */
	if (info->si_syscall == SYS_pkey_alloc)
		rv = kernel_result(pkeys_pkey_alloc((unsigned)a[0],
						    (unsigned)a[1]));
	else if (info->si_syscall == SYS_pkey_free)
		rv = kernel_result(pkeys_pkey_free((int)a[0]));
	else if (info->si_syscall == SYS_pkey_mprotect)
		rv = kernel_result(pkeys_pkey_mprotect((void *)a[0],
						       (size_t)a[1], (int)a[2],
						       (int)a[3]));
	/* The mapping calls: the library's own (interpose/mappings.c). */
	else if (info->si_syscall == SYS_mprotect)
		rv = kernel_result(mprotect((void *)a[0], (size_t)a[1],
					    (int)a[2]));
	else if (info->si_syscall == SYS_munmap)
		rv = kernel_result(munmap((void *)a[0], (size_t)a[1]));
	else if (info->si_syscall == SYS_mmap)
		rv = map_result(mmap((void *)a[0], (size_t)a[1], (int)a[2],
				     (int)a[3], (int)a[4], (off_t)a[5]));
	else if (info->si_syscall == SYS_mremap)
		rv = map_result(mremap((void *)a[0], (size_t)a[1],
				       (size_t)a[2], (int)a[3], (void *)a[4]));
#endif
	pk__arch_syscall_return(uc, rv);
	errno = saved;
}

/*
 * Where the C library's syscall() makes its system call: mapping calls
 * made there are the program's (the library makes its own inline,
 * os/sys.h).  The instruction, found in its code (no symbol lookup:
 * this runs when the first key is allocated, maybe in the handler of a
 * trapped pkey_alloc).  0 when unknown, or when the range crosses a
 * 4 GiB line (the filter compares the address in two 32-bit halves).
 */
static int syscall_fn_range(uint64_t *start, uint64_t *end)
{
#if defined(__GLIBC__) /* its syscall() is the instruction after moves */
	uintptr_t after = pk__arch_syscall_insn_end((const void *)syscall);

	if (!after)
		return 0;
	*start = (uint64_t)after - 1;
	*end = (uint64_t)after + 1;
	return (*start >> 32) == ((*end - 1) >> 32);
#else
	(void)start;
	(void)end;
	return 0;
#endif
}

#define LD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, field)
#define JEQ(v, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v), (t), (f))
#define JGE(v, t, f) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (v), (t), (f))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define TRAP (SECCOMP_RET_TRAP | TRAP_DATA)
#define IP_LO offsetof(struct seccomp_data, instruction_pointer)

/* Linux 4.17's flag; the constant is the kernel's, for older headers. */
#ifndef SECCOMP_FILTER_FLAG_SPEC_ALLOW
#define SECCOMP_FILTER_FLAG_SPEC_ALLOW (1UL << 2)
#endif

/*
 * SPEC_ALLOW: kernels before 5.16 (and later ones booted with
 * spec_store_bypass_disable=seccomp) take any filter for a sandbox of
 * untrusted code and turn on the speculative store bypass mitigation
 * for the whole process and its children, a cost every program under
 * `pkeys run` would pay.  This filter emulates; it confines nothing.
 * Kernels before 4.17 refuse the flag (EINVAL): then without it.
 */
static int install(struct sock_filter *f, unsigned short n)
{
	struct sock_fprog prog = {.len = n, .filter = f};

	/* Async-signal-safe: system calls only (see pk__syscall_trap). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
		    SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) == 0)
		return 0;
	if (errno != EINVAL)
		return -errno;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) ? -errno
									: 0;
}

/* The key calls, wherever they come from: answered on the system call
 * number alone, so the kernel caches the answer for every other call. */
static int install_key_filter(void)
{
#if defined(SYS_pkey_alloc) && defined(SECCOMP_RET_TRAP)
	struct sock_filter f[] = {
		LD(offsetof(struct seccomp_data, arch)),
		JEQ(PK__ARCH_AUDIT, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LD(offsetof(struct seccomp_data, nr)),
		JEQ(SYS_pkey_alloc, 3, 0), /* to the last: the trap */
		JEQ(SYS_pkey_free, 2, 0),
		JEQ(SYS_pkey_mprotect, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		RET(TRAP),
	};

	return install(f, sizeof(f) / sizeof(f[0]));
#else
	return -ENOSYS;
#endif
}

/* The mapping calls made in this process's syscall(). */
static void install_map_filter(void)
{
	static int done;
	uint64_t map_lo = 0, map_hi = 0;
	int known = syscall_fn_range(&map_lo, &map_hi);
	/* The high half of the instruction pointer: little-endian here. */
	struct sock_filter f[] = {
		LD(offsetof(struct seccomp_data, arch)),
		JEQ(PK__ARCH_AUDIT, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LD(offsetof(struct seccomp_data, nr)),
		JEQ(SYS_mmap, 4, 0),
		JEQ(SYS_munmap, 3, 0),
		JEQ(SYS_mprotect, 2, 0),
		JEQ(SYS_mremap, 1, 0),
		RET(SECCOMP_RET_ALLOW),
		LD(IP_LO + 4),
		JEQ((uint32_t)(map_lo >> 32), 0, 3),
		LD(IP_LO),
		JGE((uint32_t)map_lo, 0, 1),
		JGE((uint32_t)map_hi, 0, 1),
		RET(SECCOMP_RET_ALLOW),
		RET(TRAP),
	};

	if (!known || __atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return;
	/* Failing, the calls go through: as where syscall() is unknown. */
	(void)install(f, sizeof(f) / sizeof(f[0]));
}

int pk__syscall_trap(int filter)
{
	static int done;
	int rc;

	if (!PK__ARCH_SYSCALL_TRAP)
		return -EOPNOTSUPP;
	if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return 0;
	/* The handler first: an inherited filter traps already.  The
	 * backend is chosen at the first trapped key call, if any (a
	 * process that makes none pays nothing for it). */
	rc = pk__handlers_own(SIGSYS, on_sigsys);
	if (rc == 0 && filter)
		rc = install_key_filter();
	/*
	 * The mapping calls' filter waits for the process's first key: a
	 * process that allocates none (a build's many children) has no
	 * keyed memory for them to change, and installs nothing.
	 */
	if (rc == 0)
		__atomic_store_n(&pk__key_allocated_hook, install_map_filter,
				 __ATOMIC_RELEASE);
	return rc;
}
