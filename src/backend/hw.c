/* SPDX-License-Identifier: MIT */
/*
 * Hardware backend: Linux protection keys, generic over the CPU
 * primitives of src/arch/ (the rights register, its bits, the signal
 * frame).  Hardware keys come from the kernel's pkey_alloc(2) family,
 * called through syscall(2) so that any C library works; rights live in
 * each thread's rights register, kept equal to the thread's rights
 * record.  No register instruction runs before pk__arch_probe succeeded.
 *
 * Virtual keys: the library's keys (up to PK__KEYS) share the hardware
 * keys the kernel gives (15 on x86; 28, or 4 with 4 KiB pages, on
 * POWER).  A key in use holds a hardware key ("resident"): its pages
 * carry that key and each thread's register decides.  The others are
 * "evicted": their pages carry key 0 and a protection narrowed by the
 * union of all threads' rights, as on the emulation.  pk_set on an
 * evicted key moves it in, evicting the least recently used one.  A
 * move never opens a page to a thread whose rights forbid it more than
 * the evicted key's guarantee allows:
 *   1. the victim leaves its hardware key in the key table, and every
 *      thread passes a sync round (a signal to each, backend/sync.c), so
 *      that no lock-free pk_set on it is still under way;
 *   2. its pages are narrowed by its union, still under their hardware
 *      key, then given key 0;
 *   3. every thread's register is rebuilt for the freed hardware key
 *      (a second round);
 *   4. only then does the new key's entry name the hardware key (for
 *      the lock-free calls) and its pages take it, with their own
 *      protection.
 * Cost of a move: two mprotect calls per range of the victim, one per
 * range of the key moving in, and two signal round trips to every other
 * thread (none in a single-threaded process).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "arch/arch.h"
#include "backend/backend.h"
#include "backend/hw_fast.h"
#include "backend/sync.h"
#include "core/errors.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/registry.h"
#include "core/threads.h"
#include "os/siginfo.h"
#include "os/sys.h"

#if PK__ARCH_KEYS && defined(SYS_pkey_alloc)

#define HW_KEYS PK__ARCH_HW_KEYS
typedef pk__arch_reg reg_t;

static int probe(char *why, size_t len)
{
	size_t n;
	reg_t saved;
	int key, err, rc;

	rc = pk__arch_probe(why, len);
	if (rc)
		return rc;
	/*
	 * Some virtual CPUs report keys and still cannot allocate, and a
	 * seccomp filter may block the calls: only a real allocation tells.
	 * It rewrites this thread's rights for the key, so put them back.
	 */
	saved = pk__arch_read();
	key = (int)pk__sys_pkey_alloc(0UL, 0UL);
	err = errno;
	if (key < 0) {
		n = strlen(why);
		snprintf(why + n, len - n, ", but pkey_alloc(2) failed: %s",
			 strerror(err));
		return -EOPNOTSUPP;
	}
	pk__sys_pkey_free(key);
	pk__arch_write(saved);
	n = strlen(why);
	snprintf(why + n, len - n, ", pkey_alloc(2) works");
	return 0;
}

/*
 * Virtual key -> hardware key (0: evicted), with its binding number
 * (backend/hw_fast.h), and back; pool: ours.
 */
#define SLOT_BITS PK__HW_SLOT_BITS
#define SLOT_MASK PK__HW_SLOT_MASK
union pk__hw_block pk__hw_block PK__SEALED;
PK__SEAL_BLOCK(pk__hw_block);
#define slot_of pk__hw_slot_of
#define owner (pk__hw_block.b.owner)
#define bindings (pk__hw_block.b.bindings)
#define pool (pk__hw_block.b.pool)
#define evictions (pk__hw_block.b.evictions)

/* The bindings are sealed (core/seal.h): writes open them.  Lock held. */
static void bind_open(void)
{
	pk__seal_open(&pk__hw_block, sizeof(pk__hw_block));
}

static void bind_store(int *entry, int value)
{
	bind_open();
	__atomic_store_n(entry, value, __ATOMIC_RELEASE);
}
/*
 * Least recently used, by epochs: each move starts one, and a rights
 * call marks its key with the current epoch (a load and a compare when
 * it already is: no shared cache line written on the hot path).  A move
 * evicts the resident key used longest ago.
 */
static unsigned last_use[PK__KEYS], use_epoch;

static inline void touch(int key)
{
	unsigned e = __atomic_load_n(&use_epoch, __ATOMIC_RELAXED);

	if (__atomic_load_n(&last_use[key], __ATOMIC_RELAXED) != e)
		__atomic_store_n(&last_use[key], e, __ATOMIC_RELAXED);
}

void pk__hw_touch(int key)
{
	touch(key);
}

/*
 * Relaxed: callers use the value itself (which bits of the register,
 * whether resident), never data published with it; moves are ordered
 * by the lock and the sync round.  (Acquire costs an isync on POWER.)
 */
static int slot(int key)
{
	return __atomic_load_n(&slot_of[key], __ATOMIC_RELAXED) & SLOT_MASK;
}

/*
 * hw now guards key's pages (0: nobody's).  Registers are rebuilt from
 * the owners; lock-free callers find the key by its entry (publish()).
 * Lock held.
 */
static void own(int hw, int key)
{
	bind_store(&owner[hw], key);
}

/*
 * Give key's entry hw, with a new binding number.  A move publishes
 * the entry only once every thread's register holds the key's bits, so
 * that pk_get never reads the previous owner's.  Lock held (or the key
 * not yet handed out).
 */
static void publish(int key, int hw)
{
	bind_open();
	bindings = (bindings + 1) & ((1u << (31 - SLOT_BITS)) - 1);
	bind_store(&slot_of[key], hw | (int)(bindings << SLOT_BITS));
}

/* A hardware key nobody owns: from our pool, or a new one.  Lock held. */
static int free_slot(void)
{
	long k;

	for (int h = 1; h < HW_KEYS; h++)
		if ((pool & ((uint64_t)1 << h)) && !owner[h])
			return h;
	k = pk__sys_pkey_alloc(0UL, (unsigned long)PK_DISABLE_ACCESS);
	if (k < 0)
		return 0;
	if (k >= HW_KEYS) {
		pk__sys_pkey_free(k);
		return 0;
	}
	bind_open();
	pool |= (uint64_t)1 << k;
	return (int)k;
}

/* Give every page of key the hardware key hw (0: evicted).  Lock held. */
static int rekey_pages(int key, int hw)
{
	unsigned u = pk__union_rights(key);

	for (struct pk__range *r = pk__reg_by_key[key]; r; r = r->knext) {
		if (!(r->flags & PK__R_MAPPED))
			continue;
		void *a = (void *)r->start;
		size_t n = r->end - r->start;
		int prot = hw ? r->prot : pk__narrow(r->prot, u);
		if (!hw && pk__sys_mprotect(a, n, prot))
			return -errno; /* step 1: narrow under the old key */
		if (pk__sys_pkey_mprotect(a, n, prot, hw))
			return -errno;
	}
	return 0;
}

static void load(struct pk__thread *t);
static reg_t reg_for(const struct pk__thread *t, reg_t now);

/*
 * Take the victim out of hardware key hw.  pk_set on a resident key
 * takes no lock, so the victim's slot goes to 0 first and a sync round
 * follows: a pk_set that read the old slot either finished before its
 * thread's handler ran (its record is visible now) or sees the round
 * and retries under the lock (set()).  Only then is the union read,
 * and the pages narrowed by it: no thread's new rights are missed.
 * Lock held.
 */
static int evict(int victim, int hw)
{
	int rc, entry = slot_of[victim];

	bind_store(&slot_of[victim], 0);
	rc = pk__sync_all();
	if (rc == 0)
		rc = rekey_pages(victim, 0);
	if (rc) {
		/* The victim stays: its pages go back to hw. */
		(void)rekey_pages(victim, hw);
		bind_store(&slot_of[victim], entry);
	}
	return rc;
}

/* Move key into a hardware key, evicting the LRU one.  Lock held. */
static int move_in(int key)
{
	int hw = free_slot(), rc;
	struct pk__thread *self = pk__thread_state;

	if (!hw) {
		unsigned oldest = ~0u;
		for (int h = 1; h < HW_KEYS; h++)
			if ((pool & ((uint64_t)1 << h)) && owner[h] &&
			    last_use[owner[h]] < oldest) {
				oldest = last_use[owner[h]];
				hw = h;
			}
		if (!hw)
			return -ENOSPC; /* the kernel gave no key at all */
		rc = evict(owner[hw], hw);
		if (rc)
			return rc;
	}
	own(hw, key);
	__atomic_store_n(&use_epoch, use_epoch + 1, __ATOMIC_RELAXED);
	touch(key);
	if (self)
		load(self);
	else
		pk__arch_write(reg_for(NULL, pk__arch_read()));
	rc = pk__sync_all();
	if (rc) {
		/* Some thread may keep old bits for hw: no page may carry it. */
		own(hw, 0);
		return rc;
	}
	publish(key, hw);
	rc = rekey_pages(key, hw);
	/*
	 * Some pages took hw, some did not: back to evicted, all on key 0
	 * under the union.  hw stays bound (the register guards the pages
	 * still carrying it) unless every page left it.
	 */
	if (rc && rekey_pages(key, 0) == 0) {
		bind_store(&slot_of[key], 0);
		own(hw, 0);
	}
	return rc;
}

/*
 * A new virtual key, with a hardware key if one is free; otherwise it
 * starts evicted and moves in when a thread sets its rights.  The core
 * then gives every thread its initial rights (set_all).
 */
static int key_alloc(unsigned rights)
{
	int hw;

	(void)rights;
	for (int k = 1; k < PK__KEYS; k++) {
		if (pk__key_allocated(k))
			continue;
		hw = free_slot();
		bind_store(&slot_of[k], 0);
		if (hw) {
			own(hw, k);
			publish(k, hw);
			touch(k);
		} else {
			bind_open();
			__atomic_store_n(&evictions, 1, __ATOMIC_RELAXED);
		}
		return k;
	}
	return -ENOSPC;
}

/* The hardware key stays in the pool for the next key. */
static int key_free(int key)
{
	int hw = slot(key);

	if (hw)
		own(hw, 0);
	bind_store(&slot_of[key], 0);
	return 0;
}

static int protect(void *addr, size_t len, int prot, int key)
{
	int hw = key > 0 ? slot(key) : key;

	if (key > 0 && !hw) /* evicted: the union of rights narrows */
		prot = pk__narrow(prot, pk__union_rights(key));
	return pk__sys_pkey_mprotect(addr, len, prot, hw) ? -errno : 0;
}

/*
 * The register a thread's record asks for, from the one it has now:
 * the bits of hardware keys the library owns come from the record, the
 * others (the kernel's reserved keys, the program's own) stay.
 */
static reg_t reg_for(const struct pk__thread *t, reg_t now)
{
	for (int h = 1; h < HW_KEYS; h++) {
		int key = __atomic_load_n(&owner[h], __ATOMIC_ACQUIRE);
		if (key)
			now = (now & ~pk__arch_bits(h, PK__RIGHTS_MASK)) |
			      pk__arch_bits(h, pk__rights_of(t, key));
	}
	return now;
}

/*
 * Make the register what the record says.  Another thread's sync may
 * rebuild it between the computation and the write (it bumps
 * sync_seq): then compute again, so a stale value never stays.
 */
__attribute__((noinline)) static void load(struct pk__thread *t)
{
	unsigned seq;

	do {
		seq = __atomic_load_n(&t->sync_seq, __ATOMIC_RELAXED);
		pk__arch_write(reg_for(t, pk__arch_read()));
	} while (seq != __atomic_load_n(&t->sync_seq, __ATOMIC_RELAXED));
}

void pk__hw_reload(struct pk__thread *t)
{
	load(t);
}

/* Evicted keys are enforced by the union: bring pages in line. */
static int apply_evicted(int key)
{
	return slot(key) ? 0 : rekey_pages(key, 0);
}

/*
 * Resident keys change in the register alone, without the lock.  An
 * evicted key moves in; when it cannot, it stays evicted and its pages
 * follow the new union.  If that fails too, every key gets its old rights back, so
 * a failing call changes nothing.
 */
/*
 * The fast path: every key holds a hardware key and the thread has its
 * record.  The record first, then one read and one write of the
 * register, changing only those keys' bits.  The keys' entries are read
 * again after the record's write, and the sync count is handled, as in
 * set().  Returns 0, or 1 when a key is evicted or moving, or the
 * register is not known exactly yet (nothing changed then: the caller
 * takes the locked path).
 */
static int set_resident(struct pk__thread *t, const int *keys,
			const unsigned *rights, int n)
{
	reg_t clear = 0, bits = 0;
	int entry[PK_DOMAIN_MAX];
	uint8_t old[PK_DOMAIN_MAX];
	unsigned seq;

	if (!pk__arch_exact())
		return 1;
	for (int i = 0; i < n; i++) {
		int hw;
		reg_t mask;

		entry[i] = __atomic_load_n(&slot_of[keys[i]], __ATOMIC_RELAXED);
		hw = entry[i] & SLOT_MASK;
		if (!hw)
			return 1;
		mask = pk__arch_bits(hw, PK__RIGHTS_MASK);
		clear |= mask;
		bits = (bits & ~mask) | pk__arch_bits(hw, rights[i]);
	}
	for (int i = 0; i < n; i++) {
		old[i] = __atomic_load_n(&t->rights[keys[i]], __ATOMIC_RELAXED);
		__atomic_store_n(&t->rights[keys[i]], (uint8_t)rights[i],
				 __ATOMIC_RELAXED);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	seq = __atomic_load_n(&t->sync_seq, __ATOMIC_RELAXED);
	for (int i = 0; i < n; i++)
		if (__atomic_load_n(&slot_of[keys[i]], __ATOMIC_RELAXED) !=
		    entry[i]) {
			for (int j = n - 1; j >= 0; j--)
				__atomic_store_n(&t->rights[keys[j]], old[j],
						 __ATOMIC_RELAXED);
			return 1;
		}
	for (int i = 0; i < n; i++)
		touch(keys[i]);
	pk__arch_update(clear, bits);
	if (seq != __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE))
		load(t);
	return 0;
}

static int set_many(const int *keys, const unsigned *rights, int n)
{
	struct pk__thread *t = pk__thread_state;
	uint8_t old[PK_DOMAIN_MAX];
	int rc = 0;

	if (t && set_resident(t, keys, rights, n) == 0)
		return 0;
	if (!t && !(t = pk__self()))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		old[i] = t->rights[keys[i]];
		__atomic_store_n(&t->rights[keys[i]], (uint8_t)rights[i],
				 __ATOMIC_RELAXED);
	}
	for (int i = 0; i < n && rc == 0; i++) {
		int hw = slot(keys[i]);
		if (hw) {
			touch(keys[i]);
			continue;
		}
		pk__lock_take();
		if (!slot(keys[i])) {
			int moved = move_in(keys[i]);
			if (moved && slot(keys[i]))
				rc = moved;
			else if (moved)
				rc = apply_evicted(keys[i]);
		}
		pk__lock_drop();
	}
	if (rc) {
		for (int i = n - 1; i >= 0; i--)
			__atomic_store_n(&t->rights[keys[i]], old[i],
					 __ATOMIC_RELAXED);
		pk__lock_take();
		for (int i = 0; i < n; i++)
			(void)apply_evicted(keys[i]);
		pk__lock_drop();
	}
	load(t);
	return rc;
}

/* A key that is not resident, or not allocated (pk_set leaves that
 * check to the backend's slow path: no allocated key has slot 0). */
__attribute__((noinline, cold)) static int set_slow(int key, unsigned rights)
{
	if (!pk__key_allocated(key))
		return -EINVAL;
	return pk__api_err(PK__CALL_SET, set_many(&key, &rights, 1));
}

/* The hot path is pk__hw_set_resident (hw_fast.h), which pk_set
 * inlines; here for the callers through the backend table. */
static int set(int key, unsigned rights)
{
	if (__builtin_expect(pk__hw_set_key(key, rights, 1) == 0, 1))
		return 0;
	return set_slow(key, rights);
}

/* Resident keys: hw_fast.h; the others from the records. */
static int get(int key)
{
	struct pk__thread *t;
	int hw, r;

	if (__builtin_expect(pk__hw_get_resident(key, &r), 1))
		return r;
	hw = slot(key);
	/* A resident key is allocated: its record byte, when set, says. */
	if (hw && (t = pk__thread_state) &&
	    (r = __atomic_load_n(&t->rights[key], __ATOMIC_RELAXED)) !=
		    PK__RIGHTS_UNSET)
		return r;
	if (!pk__key_allocated(key))
		return -EINVAL;
	return (int)pk__rights_of(pk__thread_state, key);
}

/* In the sync signal's handler: rebuild this thread's register. */
static void rebuild(void *uc)
{
	struct pk__thread *t = pk__thread_state;
	reg_t now;

	if (pk__arch_frame_read(uc, &now))
		return;
	pk__arch_frame_write(uc, reg_for(t, now));
	/*
	 * This handler runs in the thread t belongs to: the count orders
	 * with that thread's own reads of it, so relaxed accesses (and the
	 * register writes' compiler barriers) are all it needs.
	 */
	if (t)
		__atomic_add_fetch(&t->sync_seq, 1, __ATOMIC_RELAXED);
}

static int init(void)
{
	return pk__sync_init(rebuild);
}

static int set_all(int key)
{
	struct pk__thread *t = pk__thread_state;

	if (!slot(key))
		return apply_evicted(key);
	if (t)
		load(t);
	else
		pk__arch_write(reg_for(NULL, pk__arch_read()));
	return pk__sync_all();
}

/* A thread left: evicted keys' unions may have shrunk. */
static void threads_changed(void)
{
	for (int k = 1; k < PK__KEYS; k++)
		if (pk__reg_by_key[k] && !slot(k))
			rekey_pages(k, 0);
}

static int frame_rights(const void *uc, uint64_t *raw)
{
	reg_t v;

	if (pk__arch_frame_read(uc, &v))
		return -1;
	*raw = v;
	return 0;
}

/*
 * pk_try after the fault: the thread's rights from its record, the bits
 * of keys the library does not own from the register at the fault.  Not
 * raw alone: a key move since the fault may have given its hardware key
 * to another key, and raw still holds the old owner's bits.  Retried as
 * in load() when a sync round lands meanwhile.
 */
static void restore_rights(uint64_t raw)
{
	struct pk__thread *t = pk__thread_state;
	unsigned seq;

	if (!t) {
		pk__arch_write(reg_for(NULL, (reg_t)raw));
		return;
	}
	do {
		seq = __atomic_load_n(&t->sync_seq, __ATOMIC_RELAXED);
		pk__arch_write(reg_for(t, (reg_t)raw));
	} while (seq != __atomic_load_n(&t->sync_seq, __ATOMIC_RELAXED));
}

static int sync_signal(void)
{
	return pk__sync_signal();
}

/*
 * The key of a keyed page whose protection allows the access: a fault
 * there is the key's doing, whichever way it is enforced now.  Waits
 * for the library's lock.
 */
static int need_of(int access)
{
	return access == PK_ACCESS_WRITE ? PROT_WRITE : PROT_READ;
}

static int key_at(const siginfo_t *info, int access, unsigned *rights)
{
	int need = need_of(access);
	const struct pk__range *r;
	int key = -1;

	pk__lock_take();
	r = pk__reg_find((uintptr_t)info->si_addr);
	if (r && r->key > 0 && (r->flags & PK__R_MAPPED) &&
	    pk__prot_allows(r->prot, need))
		key = r->key;
	pk__lock_drop();
	if (key > 0)
		*rights = pk__rights_of(pk__thread_state, key);
	return key;
}

/*
 * The kernel reports SEGV_PKUERR when the key forbids the access, even
 * if the page's own protection forbids it too; then the key is not the
 * cause (as on the emulation).  Only when the lock is free now: this
 * path must not wait (pk_fault_decode is async-signal-safe here).
 */
static int own_prot_allows(const siginfo_t *info, int access)
{
	int need = need_of(access);
	const struct pk__range *r;
	int allows = 1;

	if (!pk__lock_try())
		return 1;
	r = pk__reg_find((uintptr_t)info->si_addr);
	if (r && (r->flags & PK__R_MAPPED) && !pk__prot_allows(r->prot, need))
		allows = 0;
	pk__lock_drop();
	return allows;
}

/*
 * SEGV_PKUERR names the hardware key; the frame holds the thread's
 * register at the fault.  But a key move between the fault and this decode may
 * have given that hardware key to another key, or sent the key's pages
 * back to key 0 (si_pkey 0): then the registry says which key the page
 * carries.  SEGV_ACCERR on a keyed page is an evicted key's narrowing.
 */
static int fault_key(const siginfo_t *info, const void *uc, int access,
		     unsigned *rights)
{
	reg_t frame;
	int hw, key;

	if (info->si_code == PK__SEGV_PKUERR) {
		hw = pk__si_pkey(info);
		/* A hardware key the library never had (execute-only, or the
		 * program's own pkey_alloc): not ours, and no lock to wait. */
		if (hw > 0 && (hw >= HW_KEYS ||
			       !(__atomic_load_n(&pool, __ATOMIC_RELAXED) &
				 ((uint64_t)1 << hw))))
			return -1;
		if (hw > 0) {
			key = __atomic_load_n(&owner[hw], __ATOMIC_ACQUIRE);
			if (key > 0 && slot(key) == hw) {
				if (!own_prot_allows(info, access))
					return -1;
				if (PK__ARCH_HANDLER_RESETS &&
				    pk__arch_frame_read(uc, &frame) == 0)
					*rights = pk__arch_rights(frame, hw);
				else
					*rights = pk__rights_of(
						pk__thread_state, key);
				return key;
			}
		}
		return key_at(info, access, rights);
	}
	if (info->si_code != SEGV_ACCERR)
		return -1;
	return key_at(info, access, rights);
}

#else

static int probe(char *why, size_t len)
{
	snprintf(why, len, "no protection keys for this CPU in this build");
	return -EOPNOTSUPP;
}
static int key_alloc(unsigned rights) { (void)rights; return -EOPNOTSUPP; }
static int key_free(int key) { (void)key; return -EOPNOTSUPP; }
static int protect(void *a, size_t l, int p, int k)
{
	(void)a; (void)l; (void)p; (void)k;
	return -EOPNOTSUPP;
}
static int set(int key, unsigned rights) { (void)key; (void)rights; return -EOPNOTSUPP; }
static int set_many(const int *k, const unsigned *r, int n) { (void)k; (void)r; (void)n; return -EOPNOTSUPP; }
static int set_all(int key) { (void)key; return -EOPNOTSUPP; }
static void threads_changed(void) {}
static int init(void) { return -EOPNOTSUPP; }
static int get(int key) { (void)key; return -EOPNOTSUPP; }
static int fault_key(const siginfo_t *i, const void *u, int x, unsigned *r)
{
	(void)i; (void)u; (void)x; (void)r;
	return -1;
}

#endif

#ifndef PK__ARCH_NAME
#define PK__ARCH_NAME "hw"
#endif

const struct pk__backend pk__backend_hw = {
	.name = PK__ARCH_NAME,
	.hardware = 1,
	.nkeys = PK__KEYS,
	.narrows = 1,
	.guarantee = "hardware: every access is checked against the thread's "
		     "rights register; keys beyond the hardware's share them, "
		     "the least recently used enforced as on the emulation",
	.probe = probe,
	.key_alloc = key_alloc,
	.key_free = key_free,
	.protect = protect,
	.set = set,
	.set_many = set_many,
	.get = get,
	.available = pk__keys_unallocated,
	.fault_key = fault_key,
	.set_all = set_all,
	.threads_changed = threads_changed,
	.init = init,
#if PK__ARCH_KEYS && defined(SYS_pkey_alloc)
	.frame_rights = frame_rights,
	.restore_rights = restore_rights,
	.sync_signal = sync_signal,
#endif
};
