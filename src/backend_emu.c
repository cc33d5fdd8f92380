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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Linux starts threads with every key but 0 access-disabled. */
#define DEFAULT_RIGHTS 0x55555554u
#define SEGV_ACCERR_CODE 2

struct emu_thread {
	uint32_t pkru;
	struct emu_thread *prev, *next;
};

static int readers[PK__MAX_KEYS], writers[PK__MAX_KEYS];
/* The rights currently applied to each key's pages. */
static unsigned applied[PK__MAX_KEYS];
static struct emu_thread *threads;
/* The calling thread's record, NULL until it first needs one. */
#define self ((struct emu_thread *)pk__thread_state)
/* Unused thread records, carved from pages mapped by raw system call. */
static struct emu_thread *spare;

/*
 * Thread records come from the library's arena, not malloc: they are
 * taken under pk__lock, and an allocator that unmaps memory through the
 * interposed munmap would need that lock too.  pk__lock held.
 */
static struct emu_thread *record_new(void)
{
	struct emu_thread *t;
	size_t page = pk__page_size(), n = page / sizeof(*t);

	if (!spare) {
		t = pk__arena_alloc(page);
		if (!t)
			return NULL;
		for (size_t i = 0; i < n; i++) {
			t[i].next = spare;
			spare = &t[i];
		}
	}
	t = spare;
	spare = t->next;
	return t;
}

static void record_free(struct emu_thread *t)
{
	t->next = spare;
	spare = t;
}

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
	struct pk__range *r, *failed;
	int err;

	if (want == had)
		return 0;
	for (r = pk__reg_by_key[key]; r; r = r->knext) {
		if (!(r->flags & PK__R_MAPPED))
			continue;
		if (pk__sys_mprotect((void *)r->start, r->end - r->start,
				     narrow(r->prot, want)))
			goto undo;
	}
	applied[key] = want;
	return 0;
undo:
	err = -errno;
	for (failed = r, r = pk__reg_by_key[key]; r != failed; r = r->knext)
		if (r->flags & PK__R_MAPPED)
			pk__sys_mprotect((void *)r->start, r->end - r->start,
					 narrow(r->prot, had));
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

	pk__lock_take();
	unlink_thread(t);
	record_free(t);
	pk__lock_drop();
}

/* The calling thread's record, created on first use.  pk__lock held. */
static struct emu_thread *me(void)
{
	struct emu_thread *t = self;

	if (t)
		return t;
	t = record_new();
	if (!t)
		return NULL;
	t->pkru = DEFAULT_RIGHTS;
	link_thread(t);
	pk__thread_adopt(t);
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
		if (pk__key_allocated(k))
			continue;
		rc = set_locked(k, rights);
		return rc ? rc : k;
	}
	return -ENOSPC;
}

/* Rights stay as they are, as on hardware: nothing to undo. */
static int key_free(int key)
{
	return 0;
}

static int protect(void *addr, size_t len, int prot, int key)
{
	/* Key 0 and pages without a key (-1) are never narrowed. */
	if (key > 0)
		prot = narrow(prot, applied[key]);
	return pk__sys_mprotect(addr, len, prot) ? -errno : 0;
}

static int set(int key, unsigned rights)
{
	int rc;

	pk__lock_take();
	rc = set_locked(key, rights);
	pk__lock_drop();
	return rc;
}

static int get(int key)
{
	return (int)rights_of(self ? self->pkru : DEFAULT_RIGHTS, key);
}

static int available(void)
{
	int n = 0;

	for (int k = 1; k < PK__MAX_KEYS; k++)
		n += !pk__key_allocated(k);
	return n;
}

static int fault_key(const siginfo_t *info, const void *uc, int access,
		     unsigned *rights)
{
	const struct pk__range *r;
	int key = -1, need;

	if (info->si_code != SEGV_ACCERR_CODE)
		return -1;
	need = access == PK_ACCESS_WRITE ? PROT_WRITE : PROT_READ;
	pk__lock_take();
	r = pk__reg_find((uintptr_t)info->si_addr);
	/*
	 * A key stopped the access when the program's protection allows it
	 * and the rights applied to the key's pages do not.
	 */
	if (r && r->key > 0 && (r->flags & PK__R_MAPPED) && (r->prot & need) &&
	    !(narrow(r->prot, applied[r->key]) & need))
		key = r->key;
	pk__lock_drop();
	if (key > 0)
		*rights = (unsigned)get(key);
	return key;
}

static int thread_prepare(void **state)
{
	struct emu_thread *t;

	*state = NULL;
	pk__lock_take();
	/*
	 * A creator that never used the library has the default rights.  A
	 * thread started by a fork handler belongs to a runtime (a
	 * sanitizer's helper), not to the program: it gets the default
	 * rights too, so that it does not hold keys open in the child.
	 */
	if (self && !pk__in_fork()) {
		t = record_new();
		if (!t) {
			pk__lock_drop();
			return -EAGAIN;
		}
		/* A copy of the creator's rights leaves the union unchanged. */
		t->pkru = self->pkru;
		link_thread(t);
		*state = t;
	}
	pk__lock_drop();
	return 0;
}

/* The threads that existed at fork; records made later are the child's. */
static struct emu_thread *at_fork;

static void fork_prepare(void)
{
	at_fork = threads;
}

static void fork_child(void)
{
	struct emu_thread *t, *next;

	/* New records are linked at the head, before at_fork. */
	for (t = at_fork; t; t = next) {
		next = t->next;
		if (t == self)
			continue;
		if (t->prev)
			t->prev->next = t->next;
		else
			threads = t->next;
		if (t->next)
			t->next->prev = t->prev;
		count(t->pkru, -1);
		record_free(t);
	}
	apply_all();
}

const struct pk__backend pk__backend_emu = {
	.name = "emu",
	.nkeys = PK__MAX_KEYS,
	.narrows = 1,
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
	.thread_exit = thread_exit,
	.fork_prepare = fork_prepare,
	.fork_child = fork_child,
};
