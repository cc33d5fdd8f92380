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
#include <limits.h>
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* pthread_attr_setsigmask_np and its getter: glibc 2.32. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
#define HAVE_ATTR_SIGMASK 1
#else
#define HAVE_ATTR_SIGMASK 0
#endif

__thread struct pk__thread *pk__thread_state
	__attribute__((tls_model("initial-exec")));

static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

struct start {
	void *(*fn)(void *);
	void *arg;
	struct pk__thread *record;
	sigset_t mask;
};

/* Rounds of thread-specific data destructors this thread has run. */
static __thread int exit_rounds;

/*
 * The key's value is the start record of a thread created here, or the
 * record of a thread adopted later, tagged with bit 0 (records are
 * aligned, so the bit is free).
 */
static void thread_exit(void *value)
{
	const struct pk__backend *b = pk__backend_peek();
	uintptr_t v = (uintptr_t)value;
	struct pk__thread *t;

	/*
	 * Other keys' destructors may still use the thread's rights: keep
	 * the record through the rounds of destructors, but one: runtimes
	 * such as ThreadSanitizer finish the thread in the last round.
	 */
	if (++exit_rounds < PTHREAD_DESTRUCTOR_ITERATIONS - 1 &&
	    pthread_setspecific(exit_key, value) == 0)
		return;
	if (v & 1) {
		t = (void *)(v & ~(uintptr_t)1);
	} else {
		t = ((struct start *)value)->record;
		free(value);
	}
	pk__lock_take();
	pk__thread_state = NULL;
	pk__thread_gone(t);
	if (b)
		b->threads_changed();
	pk__lock_drop();
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

void pk__thread_adopt(struct pk__thread *t)
{
	pthread_once(&exit_once, make_exit_key);
	pk__thread_state = t;
	pthread_setspecific(exit_key, (void *)((uintptr_t)t | 1));
}

static void *trampoline(void *p)
{
	struct start *s = p;

	pk__thread_state = s->record;
	s->record->tid = (int)syscall(SYS_gettid);
	pthread_setspecific(exit_key, s);
	/* Created under pk__lock, which blocks signals: unblock them. */
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &s->mask, NULL, _NSIG / 8);
	return s->fn(s->arg);
}

/*
 * The thread is created under pk__lock, so that a change of every
 * thread's rights (pk_set_all) sees either none of it or its record:
 * the child's PKRU and record are both copies of its creator's.
 */
int pk__thread_create(pk__pthread_create_fn real, pthread_t *thread,
		      const pthread_attr_t *attr, void *(*fn)(void *),
		      void *arg)
{
	const struct pk__backend *b = pk__backend_peek();
	struct start *s;
	int rc;

	if (!b)
		return real(thread, attr, fn, arg);
	pthread_once(&exit_once, make_exit_key);
	s = malloc(sizeof(*s));
	if (!s)
		return EAGAIN;
	s->fn = fn;
	s->arg = arg;
	pthread_sigmask(SIG_SETMASK, NULL, &s->mask);
#if HAVE_ATTR_SIGMASK
	/* The mask the attribute asks for, if any, as without the library. */
	int attr_mask = attr && pthread_attr_getsigmask_np(attr, &s->mask) == 0;
#else
	int attr_mask = 0;
#endif
	pk__lock_take();
	/*
	 * A thread started by a fork handler belongs to a runtime (a
	 * sanitizer's helper), not to the program: it starts with the
	 * initial rights and no record, so it holds no keys open.
	 */
	s->record = pk__in_fork() ? NULL : pk__thread_for_child();
	if (!s->record && !pk__in_fork()) {
		pk__lock_drop();
		free(s);
		return EAGAIN;
	}
	if (!s->record) {
		pk__lock_drop();
		free(s);
		return real(thread, attr, fn, arg);
	}
	/*
	 * pk__lock leaves the sync signal unblocked, and the child inherits
	 * the mask: a sync round reaching it before trampoline() sets its
	 * record would rebuild its PKRU from no record (the initial rights,
	 * not its creator's).  Blocked, the signal waits for trampoline's
	 * unblocking, after the record is set.
	 */
	if (b == &pk__backend_x86_pku) {
		sigset_t sync, old;

		sigemptyset(&sync);
		sigaddset(&sync, pk__x86_sync_signal());
		pthread_sigmask(SIG_BLOCK, &sync, &old);
#if HAVE_ATTR_SIGMASK
		/* glibc starts the thread with the attribute's mask, not the
		 * creator's: block the signal there too, for the start. */
		/* (The child owns s once it runs: keep copies here.) */
		sigset_t asked = s->mask, start = s->mask;

		/* Never blocked once the thread runs: the signal is reserved. */
		sigdelset(&s->mask, pk__x86_sync_signal());
		if (attr_mask) {
			sigaddset(&start, pk__x86_sync_signal());
			pthread_attr_setsigmask_np((pthread_attr_t *)attr, &start);
		}
#endif
		rc = real(thread, attr, trampoline, s);
#if HAVE_ATTR_SIGMASK
		if (attr_mask)
			pthread_attr_setsigmask_np((pthread_attr_t *)attr, &asked);
#endif
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	} else {
		rc = real(thread, attr, trampoline, s);
	}
	if (rc) {
		pk__thread_gone(s->record);
		free(s);
	}
	pk__lock_drop();
	return rc;
}
