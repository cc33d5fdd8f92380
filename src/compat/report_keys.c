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

#include "os/backtrace.h"

#define EXPORT __attribute__((visibility("default")))

typedef long syscall_fn(long, ...);
typedef int pkey_alloc_fn(unsigned int, unsigned int);

/*
 * Found at load, so that a call from a signal handler never looks; a
 * call that comes first (another library's constructor, run before
 * this one) looks then.
 */
static syscall_fn *real_syscall;
static pkey_alloc_fn *real_pkey_alloc;

__attribute__((constructor)) static void find_real(void)
{
	void *s = dlsym(RTLD_NEXT, "syscall");
	void *a = dlsym(RTLD_NEXT, "pkey_alloc");

	__atomic_store_n((void **)&real_syscall, s, __ATOMIC_RELEASE);
	__atomic_store_n((void **)&real_pkey_alloc, a, __ATOMIC_RELEASE);
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
	pkey_alloc_fn *fn = __atomic_load_n(&real_pkey_alloc, __ATOMIC_ACQUIRE);
	int key;

	if (!fn) {
		find_real();
		fn = __atomic_load_n(&real_pkey_alloc, __ATOMIC_ACQUIRE);
	}
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	key = fn(flags, rights);
	if (key >= 0)
		first_key();
	return key;
}

/* As glibc's syscall(): six arguments passed on, whatever nr takes. */
EXPORT long syscall(long nr, ...)
{
	syscall_fn *fn = __atomic_load_n(&real_syscall, __ATOMIC_ACQUIRE);
	long a[6], rv;
	va_list ap;

	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (!fn) {
		find_real();
		fn = __atomic_load_n(&real_syscall, __ATOMIC_ACQUIRE);
	}
	if (!fn) {
		errno = ENOSYS;
		return -1;
	}
	rv = fn(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
#ifdef SYS_pkey_alloc
	if (nr == SYS_pkey_alloc && rv >= 0)
		first_key();
#endif
	return rv;
}
