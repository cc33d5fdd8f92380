/* SPDX-License-Identifier: MIT */
/*
 * Backend selection: the first backend of the table that works, or the
 * one PKEYS_BACKEND names.  Made once per process and cached; the
 * choice also installs the fork handlers and the thread-exit hook that
 * keep the core's records true.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/select.h"
#include "core/errors.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/seal.h"
#include "core/threads.h"
#include "os/own.h"
#include "os/tasks.h"
#include "os/vma.h"

/* Hardware first; the emulation works everywhere. */
static const struct pk__backend *const table[] = {
	&pk__backend_hw,
	&pk__backend_emu,
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const struct pk__backend *chosen;
static int chosen_done;
static int status;
static char reason[160];

static void fork_prepare(void)
{
	pk__lock_fork_prepare();
	pk__threads_fork_prepare();
}

static void fork_parent(void)
{
	pk__lock_fork_done();
}

static void fork_child(void)
{
	pk__vma_forget();
	pk__threads_fork_child();
	if (chosen)
		chosen->threads_changed();
	pk__lock_fork_done();
}

static void threads_changed(void)
{
	chosen->threads_changed();
}

/*
 * The first backend of the table that probes and (with init) initialises,
 * with only hardware (hw) or only emulations (emu) when env asks.  Fills
 * out (the reason, len bytes); returns the backend, or NULL with *st set.
 */
static const struct pk__backend *pick(const char *env, int init, char *out,
				      size_t len, int *st)
{
	int want_hw = env && strcmp(env, "hw") == 0;
	int want_emu = env && strcmp(env, "emu") == 0;
	char why[128] = "", hw_why[128] = "no hardware backend in this build";
	int hw_rc = -EOPNOTSUPP;

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		const struct pk__backend *b = table[i];
		int rc;

		if ((want_hw && !b->hardware) || (want_emu && b->hardware))
			continue;
		rc = b->probe(why, sizeof(why));
		if (rc == 0 && init && b->init)
			rc = b->init();
		if (rc == 0) {
			if (want_hw)
				snprintf(out, len,
					 "%s (PKEYS_BACKEND=hw)", why);
			else if (want_emu)
				snprintf(out, len,
					 "PKEYS_BACKEND=emu");
			else if (b->hardware)
				snprintf(out, len, "%s", why);
			else
				snprintf(out, len,
					 "no hardware keys: %s", hw_why);
			return b;
		}
		if (b->hardware) {
			snprintf(hw_why, sizeof(hw_why), "%s", why);
			hw_rc = rc;
		} else {
			/* The emulation works everywhere: when it does not,
			 * its settings are wrong (PKEYS_EMU), and that is what
			 * the user must hear. */
			snprintf(out, len, "%s", why);
			*st = rc;
			return NULL;
		}
	}
	snprintf(out, len, "PKEYS_BACKEND=hw, but %s", hw_why);
	*st = hw_rc;
	return NULL;
}

/*
 * PKEYS_BACKEND checked, then the pick.  secure_getenv: a setuid
 * program's environment is not its user's.
 */
static const struct pk__backend *decide(int init, char *out, size_t len,
					int *st)
{
	const char *env = secure_getenv("PKEYS_BACKEND");

	if (!env || !*env || strcmp(env, "auto") == 0)
		return pick(NULL, init, out, len, st);
	if (strcmp(env, "hw") != 0 && strcmp(env, "emu") != 0) {
		snprintf(out, len,
			 "PKEYS_BACKEND=%.40s is not hw, emu or auto", env);
		*st = -EINVAL;
		return NULL;
	}
	return pick(env, init, out, len, st);
}

static void choose(void)
{
	int n;
	char other[96];

	/*
	 * Two copies in one process would keep two registries of the same
	 * memory and damage each other: a copy the program's calls do not
	 * reach through the global scope stays off, and says so.
	 */
	if (pk__other_copy(other, sizeof(other))) {
		snprintf(reason, sizeof(reason),
			 "another copy of libpkeys serves this process (%s)",
			 other);
		status = -EOPNOTSUPP;
		fprintf(stderr, "pkeys: %s: this copy stays off and its calls "
				"fail (EOPNOTSUPP)\n", reason);
		__atomic_store_n(&chosen_done, 1, __ATOMIC_RELEASE);
		return;
	}
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	pk__vma_keep_open();
	chosen = decide(1, reason, sizeof(reason), &status);
	if (chosen) {
		/* Before any lock: it takes the loader's. */
		pk__own_find();
		pk__threads_exit_hook = threads_changed;
		if (chosen->sync_signal)
			pk__lock_keep_open(chosen->sync_signal());
		/* Every thread alive now is one the library has no record
		 * of: only the caller where the C library says so (no look
		 * at /proc: os/tasks.h). */
		n = pk__tasks_libc_alone() ? 1 : pk__count_tasks();
		pk__threads_unknown = n > 0 ? n : 1;
		/* From now on the state is read-only outside the calls that
		 * change it (core/seal.h). */
		pk__lock_take();
		pk__keys_init();
		pk__seal_init();
		pk__lock_drop();
	}
	__atomic_store_n(&chosen_done, 1, __ATOMIC_RELEASE);
	if (chosen && !status)
		__atomic_store_n(&pk__ready_backend, chosen, __ATOMIC_RELEASE);
}

const struct pk__backend *pk__backend_peek(void)
{
	if (!__atomic_load_n(&chosen_done, __ATOMIC_ACQUIRE))
		return NULL;
	return chosen;
}

const struct pk__backend *pk__backend(void)
{
	if (__atomic_load_n(&chosen_done, __ATOMIC_ACQUIRE))
		return chosen;
	pthread_once(&once, choose);
	return chosen;
}

int pk__init_status(void)
{
	pk__backend();
	return status;
}

const struct pk__backend *pk__ready_slow(void)
{
	const struct pk__backend *b = pk__backend();

	return status ? NULL : b;
}

static int set_first(int key, unsigned rights)
{
	const struct pk__backend *b = pk__ready_slow();

	return b ? b->set(key, rights) : pk__api_err(PK__CALL_INIT, status);
}

static int get_first(int key)
{
	const struct pk__backend *b = pk__ready_slow();

	return b ? b->get(key) : pk__api_err(PK__CALL_INIT, status);
}

const struct pk__backend pk__backend_unchosen = {
	.name = "none",
	.set = set_first,
	.get = get_first,
};
const struct pk__backend *pk__ready_backend = &pk__backend_unchosen;

const struct pk__backend *pk__backend_probe(char *why, size_t len)
{
	int st = 0;

	return decide(0, why, len, &st);
}

const char *pk__backend_reason(void)
{
	pk__backend();
	return reason;
}
