/* SPDX-License-Identifier: MIT */
/*
 * The next sigaction after this object (the C library's, or a
 * sanitizer's interceptor), found once.  A static program has no
 * RTLD_NEXT, and no interposer either: there it is the C library's
 * __sigaction (glibc and musl both have it under that name too).
 */
#include <dlfcn.h>

#include "os/sigaction.h"

extern int __sigaction(int, const struct sigaction *, struct sigaction *)
	__attribute__((weak));

int pk__sigaction_real(int sig, const struct sigaction *act,
		       struct sigaction *old)
{
	static pk__sigaction_fn real;
	pk__sigaction_fn f = __atomic_load_n(&real, __ATOMIC_ACQUIRE);

	if (!f) {
		f = (pk__sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
		if (!f)
			f = __sigaction;
		if (!f)
			return -1;
		__atomic_store_n(&real, f, __ATOMIC_RELEASE);
	}
	return f(sig, act, old);
}
