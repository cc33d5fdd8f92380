/*
 * Emulation backend: key semantics enforced with page protections, for
 * CPUs without PKU.
 *
 * Each thread has a rights word laid out like PKRU (bit 2k access-
 * disable, bit 2k+1 write-disable), so pk_get answers per thread exactly
 * as hardware does.  Pages have one protection for all threads, so the
 * rights applied to a key's pages are the union of what the live threads
 * hold: readable while any thread may read the key, writable while any
 * thread may write it.  Hence:
 *   - a thread never faults on memory whose key it holds rights for;
 *   - a thread without rights is stopped whenever no other thread holds
 *     them at that moment (always, in a single-threaded program);
 *   - kernel accesses see the same protections: read(2) into a closed
 *     buffer fails with EFAULT.
 * Not covered: rights never stop instruction fetch on hardware, but here
 * a PROT_EXEC page stays readable while its key is access-disabled,
 * because x86 page tables cannot express execute-only.
 *
 * Counters per key record how many threads may read and write it, so a
 * change of rights costs system calls only when the union changes: one
 * mprotect per registry range of the key.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

/* Linux starts threads with every key but 0 access-disabled. */
#define DEFAULT_RIGHTS 0x55555554u
#define SEGV_ACCERR_CODE 2

struct emu_thread {
	uint32_t pkru;
	struct emu_thread *prev, *next;
};

static uint32_t allocated;
static int readers[PK__MAX_KEYS], writers[PK__MAX_KEYS];
/* The rights currently applied to each key's pages. */
static unsigned applied[PK__MAX_KEYS];
static struct emu_thread *threads;
static __thread struct emu_thread *self;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;

static unsigned rights_of(uint32_t pkru, int key)
{
	return (pkru >> (2 * key)) & 3u;
}

static int narrow(int prot, unsigned rights)
{
	if (rights & PK_DISABLE_ACCESS)
		return prot & ~(PROT_READ | PROT_WRITE);
	if (rights & PK_DISABLE_WRITE)
		return prot & ~PROT_WRITE;
	return prot;
}

static unsigned union_rights(int key)
{
	if (writers[key])
		return 0;
	return readers[key] ? PK_DISABLE_WRITE : PK_DISABLE_ACCESS;
}

static void count(uint32_t pkru, int sign)
{
	for (int k = 1; k < PK__MAX_KEYS; k++) {
		unsigned r = rights_of(pkru, k);
		if (!(r & PK_DISABLE_ACCESS))
			readers[k] += sign;
		if (!r)
			writers[k] += sign;
	}
}

/*
 * Bring key's pages in line with the union of rights.  On failure the
 * ranges already changed are put back and the old rights stay applied.
 */
static int apply(int key)
{
	unsigned want = union_rights(key), had = applied[key];
	size_t i, j;

	if (want == had)
		return 0;
	for (i = 0; i < pk__reg_n; i++) {
		const struct pk__range *r = &pk__reg[i];
		if (r->key != key)
			continue;
		if (pk__sys_mprotect((void *)r->start, r->end - r->start,
				     narrow(r->prot, want)))
			goto undo;
	}
	applied[key] = want;
	return 0;
undo:;
	int err = -errno;
	for (j = 0; j < i; j++)
		if (pk__reg[j].key == key)
			pk__sys_mprotect((void *)pk__reg[j].start,
					 pk__reg[j].end - pk__reg[j].start,
					 narrow(pk__reg[j].prot, had));
	return err;
}

static void apply_all(void)
{
	for (int k = 1; k < PK__MAX_KEYS; k++)
		apply(k);
}

static void link_thread(struct emu_thread *t)
{
	t->prev = NULL;
	t->next = threads;
	if (threads)
		threads->prev = t;
	threads = t;
	count(t->pkru, +1);
}

/* Drop a thread's rights from the union.  pk__lock held. */
static void unlink_thread(struct emu_thread *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		threads = t->next;
	if (t->next)
		t->next->prev = t->prev;
	count(t->pkru, -1);
	/* Best effort: a thread that is gone cannot be told of a failure. */
	apply_all();
}

static void thread_exit(void *arg)
{
	struct emu_thread *t = arg;

	pthread_mutex_lock(&pk__lock);
	unlink_thread(t);
	pthread_mutex_unlock(&pk__lock);
	if (self == t)
		self = NULL;
	free(t);
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

static void attach(struct emu_thread *t)
{
	pthread_once(&exit_once, make_exit_key);
	self = t;
	pthread_setspecific(exit_key, t);
}

/* The calling thread's record, created on first use.  pk__lock held. */
static struct emu_thread *me(void)
{
	struct emu_thread *t = self;

	if (t)
		return t;
	t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	t->pkru = DEFAULT_RIGHTS;
	link_thread(t);
	attach(t);
	return t;
}

/* pk__lock held. */
static int set_locked(int key, unsigned rights)
{
	struct emu_thread *t = me();
	uint32_t old, new;
	int rc;

	if (!t)
		return -ENOMEM;
	old = t->pkru;
	new = (old & ~(3u << (2 * key))) | (rights << (2 * key));
	if (new == old)
		return 0;
	count(old, -1);
	t->pkru = new;
	count(new, +1);
	rc = apply(key);
	if (rc) {
		count(new, -1);
		t->pkru = old;
		count(old, +1);
	}
	return rc;
}

static int probe(char *why, size_t len)
{
	snprintf(why, len, "page protections enforce each key's rights "
			   "(union over threads)");
	for (int k = 0; k < PK__MAX_KEYS; k++)
		applied[k] = PK_DISABLE_ACCESS;
	applied[0] = 0;
	return 0;
}

static int key_alloc(unsigned rights)
{
	int rc;

	for (int k = 1; k < PK__MAX_KEYS; k++) {
		if (allocated & (1u << k))
			continue;
		rc = set_locked(k, rights);
		if (rc)
			return rc;
		allocated |= 1u << k;
		return k;
	}
	return -ENOSPC;
}

static int key_free(int key)
{
	allocated &= ~(1u << key);
	return 0;
}

static int protect(void *addr, size_t len, int prot, int key)
{
	if (key > 0)
		prot = narrow(prot, applied[key]);
	return pk__sys_mprotect(addr, len, prot) ? -errno : 0;
}

static int set(int key, unsigned rights)
{
	int rc;

	pthread_mutex_lock(&pk__lock);
	rc = set_locked(key, rights);
	pthread_mutex_unlock(&pk__lock);
	return rc;
}

static int get(int key)
{
	return (int)rights_of(self ? self->pkru : DEFAULT_RIGHTS, key);
}

static int available(void)
{
	return PK__MAX_KEYS - 1 - __builtin_popcount(allocated);
}

static int fault_key(const siginfo_t *info, const void *uc, int access,
		     unsigned *rights)
{
	const struct pk__range *r;
	int key = -1, need;

	if (info->si_code != SEGV_ACCERR_CODE)
		return -1;
	need = access == PK_ACCESS_WRITE ? PROT_WRITE : PROT_READ;
	pthread_mutex_lock(&pk__lock);
	r = pk__reg_find((uintptr_t)info->si_addr);
	/*
	 * A key stopped the access when the program's protection allows it
	 * and the rights applied to the key's pages do not.
	 */
	if (r && (r->prot & need) && !(narrow(r->prot, applied[r->key]) & need))
		key = r->key;
	pthread_mutex_unlock(&pk__lock);
	if (key > 0)
		*rights = (unsigned)get(key);
	return key;
}

static int thread_prepare(void **state)
{
	struct emu_thread *t;

	*state = NULL;
	pthread_mutex_lock(&pk__lock);
	/* A creator that never used the library has the default rights. */
	if (self) {
		t = malloc(sizeof(*t));
		if (!t) {
			pthread_mutex_unlock(&pk__lock);
			return -EAGAIN;
		}
		/* A copy of the creator's rights leaves the union unchanged. */
		t->pkru = self->pkru;
		link_thread(t);
		*state = t;
	}
	pthread_mutex_unlock(&pk__lock);
	return 0;
}

static void thread_start(void *state)
{
	if (state)
		attach(state);
}

static void thread_cancel(void *state)
{
	if (state)
		thread_exit(state);
}

static void fork_child(void)
{
	struct emu_thread *t, *next;

	for (t = threads; t; t = next) {
		next = t->next;
		if (t != self)
			free(t);
	}
	threads = NULL;
	for (int k = 0; k < PK__MAX_KEYS; k++)
		readers[k] = writers[k] = 0;
	if (self)
		link_thread(self);
	apply_all();
}

const struct pk__backend pk__backend_emu = {
	.name = "emu",
	.nkeys = PK__MAX_KEYS,
	.guarantee = "emulated: a key's pages open while any thread holds its "
		     "rights; exact for one thread, never faults a thread "
		     "that holds them",
	.probe = probe,
	.key_alloc = key_alloc,
	.key_free = key_free,
	.protect = protect,
	.set = set,
	.get = get,
	.available = available,
	.fault_key = fault_key,
	.thread_prepare = thread_prepare,
	.thread_start = thread_start,
	.thread_cancel = thread_cancel,
	.fork_child = fork_child,
};
