/* SPDX-License-Identifier: MIT */
/*
 * When libpkeys_report.so readies its report (compat/report.c): at the
 * process's first protection key.  The backtrace and source lines need
 * libgcc's unwinder and libdw, about 1.4 ms of CPU to load (measured
 * here: /usr/bin/true with the report preloaded, 300 alternating
 * spawns), which every process of a build under `pkeys run` would pay
 * at start though it never uses a key.
 *
 * A key comes from the kernel's pkey_alloc, which a program reaches
 * through glibc's pkey_alloc or through syscall(2) with SYS_pkey_alloc
 * (Rust's libc crate, wasmtime): both are interposed here, and the
 * first key either returns loads the libraries, in the calling thread,
 * before the call returns.  A program that makes the system call with
 * an instruction of its own gets reports without a backtrace.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/arch.h"
#include "os/backtrace.h"

#define EXPORT __attribute__((visibility("default")))

typedef int pkey_alloc_fn(unsigned int, unsigned int);

/*
 * Found at load, so that a call from a signal handler never looks; a
 * call that comes first (another library's constructor, run before
 * this one) looks then.
 */
#ifndef PK__ARCH_SYSCALL6
typedef long syscall_fn(long, ...);
static syscall_fn *real_syscall;
#endif
static pkey_alloc_fn *real_pkey_alloc;

__attribute__((constructor)) static void find_real(void)
{
#ifndef PK__ARCH_SYSCALL6
	void *s = dlsym(RTLD_NEXT, "syscall");

	__atomic_store_n((void **)&real_syscall, s, __ATOMIC_RELEASE);
#endif
	void *a = dlsym(RTLD_NEXT, "pkey_alloc");

	__atomic_store_n((void **)&real_pkey_alloc, a, __ATOMIC_RELEASE);
}

/* The C library's function in *slot, looked up now if need be; NULL
 * with errno ENOSYS where it has none. */
static void *real(void *const *slot)
{
	void *fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!fn) {
		find_real();
		fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	}
	if (!fn)
		errno = ENOSYS;
	return fn;
}

static void first_key(void)
{
	static int seen;
	int saved = errno;

	if (!__atomic_exchange_n(&seen, 1, __ATOMIC_ACQ_REL))
		pk__backtrace_warm();
	errno = saved;
}

EXPORT int pkey_alloc(unsigned int flags, unsigned int rights)
{
	pkey_alloc_fn *fn;
	int key;

	*(void **)&fn = real((void *const *)&real_pkey_alloc);
	if (!fn)
		return -1;
	key = fn(flags, rights);
	if (key >= 0)
		first_key();
	return key;
}

/*
 * The system call, returning as syscall(2) does.  Made here where the
 * CPU family has an inline one: after a system call the TLB may be cold
 * (PTI without PCID), and each page touched then costs a walk; passed
 * through glibc's syscall(), this wrapper cost 80 ns a call on the
 * project's machines, made inline nothing measurable (a getppid loop).
 */
static long call(long nr, const long *a)
{
#ifdef PK__ARCH_SYSCALL6
	long rv = pk__arch_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);

	if (rv < 0 && rv > -4096) {
		errno = (int)-rv;
		return -1;
	}
	return rv;
#else
	syscall_fn *fn;

	*(void **)&fn = real((void *const *)&real_syscall);
	return fn ? fn(nr, a[0], a[1], a[2], a[3], a[4], a[5]) : -1;
#endif
}

/* As glibc's syscall(): six arguments passed on, whatever nr takes. */
EXPORT long syscall(long nr, ...)
{
	long a[6], rv;
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	rv = call(nr, a);
#ifdef SYS_pkey_alloc
	if (nr == SYS_pkey_alloc && rv >= 0)
		first_key();
#endif
	return rv;
}
