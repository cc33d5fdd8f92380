/* SPDX-License-Identifier: MIT */
/*
 * The shared library's pthread_create: reached through the dynamic
 * linker before libc's, it forwards to the next definition (libc's, or
 * a sanitizer's interceptor) with the rights handed over.
 */
#include <dlfcn.h>
#include <errno.h>

#include "interpose/interpose.h"
#include "pkeys.h"

PK_API int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	NEXT(pk__pthread_create_fn, pthread_create);
	if (!next_pthread_create)
		return EAGAIN;
	return pk__thread_create(next_pthread_create, thread, attr, fn, arg);
}
