/*
 * Thread creation with inherited rights, and per-thread backend state.
 *
 * On hardware a new thread inherits its creator's PKRU.  The emulation
 * keeps rights in memory, so the creator's rights are copied here and
 * handed to the new thread before it runs any of the program's code.
 *
 * The new thread runs trampoline() before any other code, possibly
 * before a sanitizer's interceptor has set the thread up (a sanitizer's
 * pthread_create that reaches ours through RTLD_NEXT wraps the start
 * routine inside ours).  So this file is built without sanitizer
 * instrumentation, the trampoline only stores to initial-exec TLS and
 * calls pthread_setspecific, and everything else (freeing the start
 * record, the backend's exit hook) happens at thread exit.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

__thread void *pk__thread_state __attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

struct start {
	void *(*fn)(void *);
	void *arg;
	void *state;
};

/*
 * The key's value is the start record of a thread created here, or the
 * state of a thread adopted later, tagged with bit 0 (records are
 * aligned, so the bit is free).
 */
static void thread_exit(void *value)
{
	const struct pk__backend *b = pk__backend_peek();
	uintptr_t v = (uintptr_t)value;
	void *state;

	if (v & 1) {
		state = (void *)(v & ~(uintptr_t)1);
	} else {
		state = ((struct start *)value)->state;
		free(value);
	}
	pk__thread_state = NULL;
	if (b && b->thread_exit)
		b->thread_exit(state);
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

void pk__thread_adopt(void *state)
{
	pthread_once(&exit_once, make_exit_key);
	pk__thread_state = state;
	pthread_setspecific(exit_key, (void *)((uintptr_t)state | 1));
}

static void *trampoline(void *p)
{
	struct start *s = p;

	pk__thread_state = s->state;
	pthread_setspecific(exit_key, s);
	return s->fn(s->arg);
}

int pk__thread_create(pk__pthread_create_fn real, pthread_t *thread,
		      const pthread_attr_t *attr, void *(*fn)(void *),
		      void *arg)
{
	const struct pk__backend *b = pk__backend_peek();
	struct start *s;
	int rc;

	if (!b || !b->thread_prepare)
		return real(thread, attr, fn, arg);
	pthread_once(&exit_once, make_exit_key);
	s = malloc(sizeof(*s));
	if (!s)
		return EAGAIN;
	rc = -b->thread_prepare(&s->state);
	if (rc || !s->state) {
		/* Nothing to hand over: the thread starts with default rights. */
		free(s);
		return rc ? rc : real(thread, attr, fn, arg);
	}
	s->fn = fn;
	s->arg = arg;
	rc = real(thread, attr, trampoline, s);
	if (rc) {
		b->thread_exit(s->state);
		free(s);
	}
	return rc;
}
