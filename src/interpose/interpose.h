/* SPDX-License-Identifier: MIT */
/* What the interposers share (src/interpose/). */
#ifndef PK_INTERPOSE_H
#define PK_INTERPOSE_H

#include <dlfcn.h>
#include <pthread.h>

/*
 * Resolve the next definition of an interposed libc function once.
 * Static programs have no RTLD_NEXT: the result is NULL there and the
 * callers fall back to the raw system call.
 */
#define NEXT(type, name)                                                   \
	static type next_##name;                                           \
	if (!next_##name)                                                  \
		next_##name = (type)dlsym(RTLD_NEXT, #name)

/*
 * Create a thread that inherits the caller's rights (thread_create.c),
 * through real: libc's pthread_create, found by the shared library's
 * interposer or the static library's --wrap.
 */
typedef int (*pk__pthread_create_fn)(pthread_t *, const pthread_attr_t *,
				     void *(*)(void *), void *);
int pk__thread_create(pk__pthread_create_fn real, pthread_t *thread,
		      const pthread_attr_t *attr, void *(*fn)(void *),
		      void *arg);

#endif
