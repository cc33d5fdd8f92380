/* SPDX-License-Identifier: MIT */
/*
 * Emulation backend: key semantics enforced with page protections, for
 * CPUs (or kernels) without protection keys.
 *
 * Each thread's rights live in the library's thread records (core/threads.c),
 * so pk_get answers per thread exactly as hardware does, for up to
 * PK__KEYS keys.  Pages have one protection for all threads, so the
 * rights applied to a key's pages are the union of what the live
 * threads hold: readable while any thread may read the key, writable
 * while any thread may write it.  Hence:
 *   - a thread never faults on memory whose key it holds rights for;
 *   - a thread without rights is stopped whenever no other thread holds
 *     them at that moment (always, in a single-threaded program);
 *   - kernel accesses see the same protections: read(2) into a closed
 *     buffer fails with EFAULT.
 * Threads the library does not know hold the keys' initial rights, and
 * count in the union while any may exist.
 * Not covered: rights never stop instruction fetch on hardware, but here
 * a PROT_EXEC page stays readable while its key is access-disabled,
 * because page tables cannot express execute-only without keys.
 *
 * PKEYS_EMU=exact (backend/emu_exact.c) applies the narrowest rights
 * instead, and lets the accesses of threads that hold more through one
 * instruction at a time: exact for every thread, at a price.
 *
 * A change of rights costs system calls only when the union changes:
 * one mprotect per registry range of the key.  Everything runs under
 * the library's lock, taken with signals blocked, so it is async-signal-safe.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/emu_exact.h"
#include "core/errors.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/registry.h"
#include "core/threads.h"
#include "os/sys.h"

/* The rights currently applied to each key's pages. */
static uint8_t applied[PK__KEYS];
/* PKEYS_EMU=exact: pages carry the narrowest rights, not the union. */
static int exact;

/*
 * Bring key's pages in line with the union of rights.  On failure the
 * ranges already changed are put back and the old rights stay applied.
 */
static int apply(int key)
{
	unsigned want = exact ? pk__meet_rights(key) : pk__union_rights(key);
	unsigned had = applied[key];
	struct pk__range *r, *failed;
	int err;

	if (want == had)
		return 0;
	for (r = pk__reg_by_key[key]; r; r = r->knext) {
		if (!(r->flags & PK__R_MAPPED))
			continue;
		if (pk__sys_mprotect((void *)r->start, r->end - r->start,
				     pk__narrow(r->prot, want)))
			goto undo;
	}
	applied[key] = (uint8_t)want;
	return 0;
undo:
	err = -errno;
	for (failed = r, r = pk__reg_by_key[key]; r != failed; r = r->knext)
		if (r->flags & PK__R_MAPPED)
			pk__sys_mprotect((void *)r->start, r->end - r->start,
					 pk__narrow(r->prot, had));
	return err;
}

static int probe(char *why, size_t len)
{
	/* secure_getenv: a setuid program's environment is not its user's. */
	const char *mode = secure_getenv("PKEYS_EMU");
	int rc;

	if (mode && *mode && strcmp(mode, "union") != 0 &&
	    strcmp(mode, "exact") != 0) {
		snprintf(why, len, "PKEYS_EMU=%.40s is not exact or union",
			 mode);
		return -EINVAL;
	}
	exact = mode && strcmp(mode, "exact") == 0;
	if (exact) {
		rc = pk__exact_init(applied, why, len);
		if (rc)
			return rc;
	}
	snprintf(why, len, "page protections enforce each key's rights (%s)",
		 exact ? "exact: the narrowest over threads, and a thread "
			 "that holds more single-stepped through"
		       : "union over threads");
	for (int k = 1; k < PK__KEYS; k++)
		applied[k] = PK_DISABLE_ACCESS;
	return 0;
}

static int key_alloc(unsigned rights)
{
	for (int k = 1; k < PK__KEYS; k++)
		if (!pk__key_allocated(k))
			return k;
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
		prot = pk__narrow(prot, applied[key]);
	return pk__sys_mprotect(addr, len, prot) ? -errno : 0;
}

/*
 * Rights the thread already holds change nothing: no lock, no system
 * call.  Its record's rights are in the union applied to the pages,
 * unless pk_set_all is writing records and has not applied them yet
 * (or will take them back): the records' count tells, and then the
 * locked path waits for it.
 */
static int unchanged(const int *keys, const unsigned *rights, int n)
{
	struct pk__thread *t = pk__thread_state;
	unsigned seq = pk__records_read_begin();

	if (!t)
		return 0;
	for (int i = 0; i < n; i++) {
		unsigned r = __atomic_load_n(&t->rights[keys[i]],
					     __ATOMIC_ACQUIRE);

		if (r == PK__RIGHTS_UNSET)
			r = pk__key_init_rights(keys[i]);
		if (r != rights[i])
			return 0;
	}
	return pk__records_read_ok(seq);
}

static int set_many(const int *keys, const unsigned *rights, int n)
{
	struct pk__thread *t;
	uint8_t old[PK_DOMAIN_MAX];
	int rc = 0, i;

	if (unchanged(keys, rights, n))
		return 0;
	pk__lock_take();
	t = pk__self_locked();
	if (!t) {
		pk__lock_drop();
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		old[i] = t->rights[keys[i]];
		__atomic_store_n(&t->rights[keys[i]], (uint8_t)rights[i],
				 __ATOMIC_RELAXED);
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = apply(keys[i]);
	if (rc) {
		for (i = n - 1; i >= 0; i--)
			__atomic_store_n(&t->rights[keys[i]], old[i],
					 __ATOMIC_RELAXED);
		for (i = 0; i < n; i++)
			apply(keys[i]);
	}
	pk__lock_drop();
	return rc;
}

/* pk_set's backend: its errors are the ones pk_set(3) lists. */
static int set(int key, unsigned rights)
{
	if (!pk__key_allocated(key))
		return -EINVAL;
	return pk__api_err(PK__CALL_SET, set_many(&key, &rights, 1));
}

static int get(int key)
{
	if (!pk__key_allocated(key))
		return -EINVAL;
	return (int)pk__rights_of(pk__thread_state, key);
}


/* The records changed for every thread: apply the new union (meet). */
static int set_all(int key)
{
	return apply(key);
}

/* A thread left: rights it held may no longer count. */
static void threads_changed(void)
{
	for (int k = 1; k < PK__KEYS; k++)
		if (pk__key_allocated(k) || pk__reg_by_key[k])
			apply(k);
}

static int step(siginfo_t *info, void *uc)
{
	return exact && pk__exact_fault(info, uc);
}

static int fault_key(const siginfo_t *info, const void *uc, int access,
		     unsigned *rights)
{
	const struct pk__range *r;
	int key = -1, need;

	if (info->si_code != SEGV_ACCERR)
		return -1;
	need = access == PK_ACCESS_WRITE ? PROT_WRITE : PROT_READ;
	if (pk__lock_mine())
		return -1;
	pk__lock_take();
	r = pk__reg_find((uintptr_t)info->si_addr);
	/*
	 * A key stopped the access when the program's protection allows it
	 * and the rights applied to the key's pages do not.
	 */
	if (r && r->key > 0 && (r->flags & PK__R_MAPPED) &&
	    pk__prot_allows(r->prot, need) &&
	    !pk__prot_allows(pk__narrow(r->prot, applied[r->key]), need))
		key = r->key;
	pk__lock_drop();
	if (key > 0)
		*rights = (unsigned)get(key);
	return key;
}

const struct pk__backend pk__backend_emu = {
	.name = "emu",
	.nkeys = PK__KEYS,
	.narrows = 1,
	.guarantee = "emulated: a key's pages open while any thread holds its "
		     "rights; exact for one thread, never faults a thread "
		     "that holds them",
	.probe = probe,
	.key_alloc = key_alloc,
	.key_free = key_free,
	.protect = protect,
	.set = set,
	.set_many = set_many,
	.get = get,
	.available = pk__keys_unallocated,
	.set_all = set_all,
	.threads_changed = threads_changed,
	.fault_key = fault_key,
	.step = step,
};
