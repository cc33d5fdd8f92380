/* SPDX-License-Identifier: MIT */
/*
 * The static library's hook for thread creation.  A static archive
 * cannot define pthread_create itself: in a fully static program the
 * C library's definition would then be unreachable.  Programs linked
 * with libpkeys.a pass -Wl,--wrap=pthread_create (pkg-config --static
 * adds it), which sends their calls here and names libc's __real_.
 * Without the flag this object is never linked in, and threads start
 * with the default rights on the emulation.
 */
#include "interpose/interpose.h"
#include "pkeys.h"

int __real_pthread_create(pthread_t *, const pthread_attr_t *,
			  void *(*)(void *), void *);

PK_API int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
				 void *(*fn)(void *), void *arg)
{
	return pk__thread_create(__real_pthread_create, thread, attr, fn, arg);
}
