/*
 * Backend selection: made once per process, at the first call, and
 * cached.  PKEYS_BACKEND=hw|emu|auto overrides the automatic choice.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/x86.h"
#include "internal.h"

pthread_mutex_t pk__lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const struct pk__backend *chosen;
static int chosen_done;
static int status;
static char reason[160];
static size_t page_size;
static int la57;

/*
 * Set in the forking thread from the prepare handler to the parent and
 * child handlers: other fork handlers run in between (a sanitizer's child
 * handler starts a thread), and their calls into the library must not
 * wait for the lock this thread already holds.
 */
static __thread int fork_holds_lock;
/* The signal mask to restore when this thread drops pk__lock. */
static __thread sigset_t lock_saved_mask;
/* Its cancelability, likewise. */
static __thread int lock_saved_cancel;

int pk__in_fork(void)
{
	return fork_holds_lock;
}

/*
 * Signals are blocked while the lock is held, so a signal handler that
 * calls the library never finds its own thread holding it: that makes
 * every call async-signal-safe.  Synchronous faults stay deliverable,
 * and so does the hardware backend's sync signal, which a thread waiting
 * here must answer for the thread holding the lock to go on.
 */
void pk__lock_mask(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGFPE);
	if (chosen == &pk__backend_x86_pku)
		sigdelset(set, pk__x86_sync_signal());
}

void pk__lock_take(void)
{
	sigset_t all;

	if (fork_holds_lock)
		return;
	pk__lock_mask(&all);
	pthread_sigmask(SIG_BLOCK, &all, &lock_saved_mask);
	/*
	 * Work under the lock calls cancellation points (close, nanosleep):
	 * a thread cancelled there would unwind with the lock held.
	 */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &lock_saved_cancel);
	pthread_mutex_lock(&pk__lock);
}

/* pk__lock_take, unless another thread holds the lock: then 0. */
int pk__lock_try(void)
{
	sigset_t all, saved;

	if (fork_holds_lock)
		return 1;
	pk__lock_mask(&all);
	pthread_sigmask(SIG_BLOCK, &all, &saved);
	if (pthread_mutex_trylock(&pk__lock)) {
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
		return 0;
	}
	lock_saved_mask = saved;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &lock_saved_cancel);
	return 1;
}

void pk__lock_drop(void)
{
	if (fork_holds_lock)
		return;
	pthread_mutex_unlock(&pk__lock);
	pthread_setcancelstate(lock_saved_cancel, NULL);
	pthread_sigmask(SIG_SETMASK, &lock_saved_mask, NULL);
}

static void fork_prepare(void)
{
	pk__lock_take();
	fork_holds_lock = 1;
	pk__threads_fork_prepare();
}

static void fork_parent(void)
{
	fork_holds_lock = 0;
	pk__lock_drop();
}

static void fork_child(void)
{
	pk__threads_fork_child();
	if (chosen)
		chosen->threads_changed();
	fork_holds_lock = 0;
	pk__lock_drop();
}

static void choose_once(void);

static void choose(void)
{
	choose_once();
	/* Every thread alive now is one the library has no record of. */
	if (chosen)
		pk__threads_unknown = pk__count_tasks() > 0 ? pk__count_tasks() : 1;
	__atomic_store_n(&chosen_done, 1, __ATOMIC_RELEASE);
}

static void choose_once(void)
{
	const char *env = getenv("PKEYS_BACKEND");
	char why[128];
	int rc;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	la57 = pk__x86_la57();
	pthread_atfork(fork_prepare, fork_parent, fork_child);

	if (env && *env && strcmp(env, "auto") != 0 && strcmp(env, "hw") != 0 &&
	    strcmp(env, "emu") != 0) {
		snprintf(reason, sizeof(reason),
			 "PKEYS_BACKEND=%.40s is not hw, emu or auto", env);
		status = -EINVAL;
		return;
	}
	if (!env || !*env || strcmp(env, "emu") != 0) {
		rc = pk__backend_x86_pku.probe(why, sizeof(why));
		if (rc == 0)
			rc = pk__backend_x86_pku.init();
		if (rc == 0) {
			chosen = &pk__backend_x86_pku;
			snprintf(reason, sizeof(reason), "%s%s", why,
				 env && strcmp(env, "hw") == 0
					 ? " (PKEYS_BACKEND=hw)"
					 : "");
			return;
		}
		if (env && strcmp(env, "hw") == 0) {
			snprintf(reason, sizeof(reason),
				 "PKEYS_BACKEND=hw, but %s", why);
			status = rc;
			return;
		}
	}
	pk__backend_emu.probe(reason, sizeof(reason));
	chosen = &pk__backend_emu;
	if (pk__backend_emu.init)
		pk__backend_emu.init();
	if (env && strcmp(env, "emu") == 0)
		snprintf(reason, sizeof(reason), "PKEYS_BACKEND=emu");
	else
		snprintf(reason, sizeof(reason), "no hardware keys: %s", why);
}

const struct pk__backend *pk__backend_peek(void)
{
	if (!__atomic_load_n(&chosen_done, __ATOMIC_ACQUIRE))
		return NULL;
	return chosen;
}

const struct pk__backend *pk__backend(void)
{
	pthread_once(&once, choose);
	return chosen;
}

int pk__init_status(void)
{
	pthread_once(&once, choose);
	return status;
}

int pk__la57(void)
{
	pthread_once(&once, choose);
	return la57;
}

size_t pk__page_size(void)
{
	pthread_once(&once, choose);
	return page_size;
}

int pk_init(void)
{
	return pk__init_status();
}

const char *pk_backend_name(void)
{
	const struct pk__backend *b = pk__backend();

	return b ? b->name : "none";
}

const char *pk_backend_reason(void)
{
	pk__backend();
	return reason;
}

int pk_version(void)
{
	return PK_VERSION;
}

int pk_info(struct pk_info *out)
{
	const struct pk__backend *b = pk__backend();
	long key;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	pk__x86_cpuid_pku(&out->cpu_pku, &out->cpu_ospke);
#ifdef SYS_pkey_alloc
	/* The raw call executes no PKU instruction, so it is safe anywhere. */
	if (b == &pk__backend_x86_pku) {
		out->kernel_pkeys = 1;
	} else {
		key = syscall(SYS_pkey_alloc, 0UL, (unsigned long)PK_DISABLE_ACCESS);
		if (key >= 0) {
			out->kernel_pkeys = 1;
			syscall(SYS_pkey_free, key);
		} else {
			out->kernel_errno = errno;
		}
	}
#else
	(void)key;
	out->kernel_errno = ENOSYS;
#endif
	out->backend = pk_backend_name();
	out->reason = reason;
	out->keys_total = b ? b->nkeys : 0;
	out->keys_available = b ? pk_keys_available() : 0;
	out->guarantee = b ? b->guarantee : "none: key calls fail";
	return 0;
}
