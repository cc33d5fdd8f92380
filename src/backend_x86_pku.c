/*
 * Hardware backend: Linux x86-64 PKU.  Hardware keys come from the
 * kernel's pkey_alloc(2) family, called through syscall(2) so that any C
 * library works; rights live in each thread's PKRU register, kept equal
 * to the thread's rights record.  Every RDPKRU and WRPKRU here runs only
 * after probe() has seen OSPKE.
 *
 * Virtual keys: the library's keys (up to PK__KEYS) share the 15 or so
 * hardware keys.  A key in use holds a hardware key ("resident"): its
 * pages carry that key and each thread's PKRU decides.  The others are
 * "evicted": their pages carry key 0 and a protection narrowed by the
 * union of all threads' rights, as on the emulation.  pk_set on an
 * evicted key moves it in, evicting the least recently used one.  A
 * move never opens a page to a thread whose rights forbid it more than
 * the evicted key's guarantee allows:
 *   1. the victim's pages are narrowed by its union first, still under
 *      their hardware key, then given key 0;
 *   2. every thread's PKRU is rebuilt for the freed hardware key (a
 *      signal to each thread, x86_sync.c);
 *   3. only then do the new key's pages take the hardware key and their
 *      own protection.
 * Cost of a move: two mprotect calls per range of the victim, one per
 * range of the key moving in, and the signal round trip to every other
 * thread (none in a single-threaded process).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "arch/x86.h"
#include "internal.h"

#if defined(__x86_64__) && defined(SYS_pkey_alloc)

/* si_pkey sits at this offset of siginfo_t on x86-64 (SEGV_PKUERR). */
#define SI_PKEY_OFFSET 0x20
#define SEGV_PKUERR_CODE 4

static int probe(char *why, size_t len)
{
	int pku, ospke, key, err;
	uint32_t saved;

	pk__x86_cpuid_pku(&pku, &ospke);
	if (!pku) {
		snprintf(why, len, "the CPU has no PKU (CPUID.7.0:ECX bit 3)");
		return -EOPNOTSUPP;
	}
	if (!ospke) {
		snprintf(why, len, "the kernel has not enabled PKU (OSPKE clear)");
		return -EOPNOTSUPP;
	}
	/*
	 * Some virtual CPUs report OSPKE and still cannot allocate, and a
	 * seccomp filter may block the calls: only a real allocation tells.
	 * It rewrites this thread's rights for the key, so put them back.
	 */
	saved = pk__rdpkru();
	key = (int)syscall(SYS_pkey_alloc, 0UL, 0UL);
	err = errno;
	if (key < 0) {
		snprintf(why, len, "CPU has PKU but pkey_alloc(2) failed: %s",
			 strerror(err));
		return -EOPNOTSUPP;
	}
	syscall(SYS_pkey_free, key);
	pk__wrpkru(saved);
	snprintf(why, len, "CPU has PKU and OSPKE, pkey_alloc(2) works");
	return 0;
}

/* Virtual key -> hardware key (0: evicted) and back; pool: ours. */
static int slot_of[PK__KEYS];
static int owner[PK__MAX_KEYS];
static unsigned pool;
static unsigned long last_use[PK__MAX_KEYS], use_clock;

static int slot(int key)
{
	return __atomic_load_n(&slot_of[key], __ATOMIC_ACQUIRE);
}

static void bind(int key, int hw)
{
	if (key > 0)
		__atomic_store_n(&slot_of[key], hw, __ATOMIC_RELEASE);
	__atomic_store_n(&owner[hw], key, __ATOMIC_RELEASE);
}

/* A hardware key nobody owns: from our pool, or a new one.  Lock held. */
static int free_slot(void)
{
	long k;

	for (int h = 1; h < PK__MAX_KEYS; h++)
		if ((pool & (1u << h)) && !owner[h])
			return h;
	k = syscall(SYS_pkey_alloc, 0UL, (unsigned long)PK_DISABLE_ACCESS);
	if (k < 0)
		return 0;
	if (k >= PK__MAX_KEYS) {
		syscall(SYS_pkey_free, k);
		return 0;
	}
	pool |= 1u << k;
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
static uint32_t pkru_for(const struct pk__thread *t, uint32_t now);

/* Move key into a hardware key, evicting the LRU one.  Lock held. */
static int move_in(int key)
{
	int hw = free_slot(), victim = 0, rc;
	unsigned vu = 0;
	struct pk__thread *self = pk__thread_state;

	if (!hw) {
		unsigned long oldest = ~0ul;
		for (int h = 1; h < PK__MAX_KEYS; h++)
			if ((pool & (1u << h)) && owner[h] && last_use[h] < oldest) {
				oldest = last_use[h];
				hw = h;
			}
		if (!hw)
			return -ENOSPC; /* the kernel gave no key at all */
		victim = owner[hw];
		vu = pk__union_rights(victim);
		rc = rekey_pages(victim, 0);
		if (rc) {
			/* The victim stays: its pages go back to hw. */
			(void)rekey_pages(victim, hw);
			return rc;
		}
		__atomic_store_n(&slot_of[victim], 0, __ATOMIC_RELEASE);
	}
	bind(key, hw);
	last_use[hw] = ++use_clock;
	if (self)
		load(self);
	else
		pk__wrpkru(pkru_for(NULL, pk__rdpkru()));
	rc = pk__x86_sync_all();
	/*
	 * pk_set on a resident key takes no lock: another thread may have
	 * changed its rights for the victim after the union above was read.
	 * Every thread has run the sync handler since the victim left its
	 * hardware key, so a change made before that is visible now, and
	 * one made after saw the victim evicted and waits for the lock.
	 */
	if (victim && pk__union_rights(victim) != vu)
		(void)rekey_pages(victim, 0);
	if (rc) {
		/* Some thread may keep old bits for hw: no page may carry it. */
		__atomic_store_n(&slot_of[key], 0, __ATOMIC_RELEASE);
		bind(0, hw);
		return rc;
	}
	rc = rekey_pages(key, hw);
	/*
	 * Some pages took hw, some did not: back to evicted, all on key 0
	 * under the union.  hw stays bound (PKRU guards the pages still
	 * carrying it) unless every page left it.
	 */
	if (rc && rekey_pages(key, 0) == 0) {
		__atomic_store_n(&slot_of[key], 0, __ATOMIC_RELEASE);
		bind(0, hw);
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
		__atomic_store_n(&slot_of[k], 0, __ATOMIC_RELEASE);
		if (hw) {
			bind(k, hw);
			last_use[hw] = ++use_clock;
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
		bind(0, hw);
	__atomic_store_n(&slot_of[key], 0, __ATOMIC_RELEASE);
	return 0;
}

static int protect(void *addr, size_t len, int prot, int key)
{
	int hw = key > 0 ? slot(key) : key;

	if (key > 0 && !hw) /* evicted: the union of rights narrows */
		prot = pk__narrow(prot, pk__union_rights(key));
	return pk__sys_pkey_mprotect(addr, len, prot, hw) ? -errno : 0;
}

/* PKRU bits of the hardware keys the library owns; others stay. */
static uint32_t owned_mask(void)
{
	uint32_t mask = 0;

	for (int h = 1; h < PK__MAX_KEYS; h++)
		if (__atomic_load_n(&owner[h], __ATOMIC_ACQUIRE))
			mask |= 3u << (2 * h);
	return mask;
}

/* The PKRU a thread's record asks for, from the one it has now. */
static uint32_t pkru_for(const struct pk__thread *t, uint32_t now)
{
	uint32_t pkru = now & ~owned_mask();

	for (int h = 1; h < PK__MAX_KEYS; h++) {
		int key = __atomic_load_n(&owner[h], __ATOMIC_ACQUIRE);
		if (key)
			pkru |= pk__rights_of(t, key) << (2 * h);
	}
	return pkru;
}

/*
 * Make PKRU what the record says.  Another thread's sync may rebuild
 * PKRU between the computation and the WRPKRU (it bumps sync_seq):
 * then compute again, so a stale value never stays.
 */
static void load(struct pk__thread *t)
{
	unsigned seq;

	do {
		seq = __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE);
		pk__wrpkru(pkru_for(t, pk__rdpkru()));
	} while (seq != __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE));
}

/* Evicted keys are enforced by the union: bring pages in line. */
static int apply_evicted(int key)
{
	return slot(key) ? 0 : rekey_pages(key, 0);
}

/*
 * Resident keys change in PKRU alone, without the lock.  An evicted key
 * moves in; when it cannot, it stays evicted and its pages follow the
 * new union.  If that fails too, every key gets its old rights back, so
 * a failing call changes nothing.
 */
static int set_many(const int *keys, const unsigned *rights, int n)
{
	struct pk__thread *t = pk__thread_state;
	uint8_t old[PK_DOMAIN_MAX];
	int rc = 0;

	if (!t) {
		pk__lock_take();
		t = pk__self_locked();
		pk__lock_drop();
		if (!t)
			return -ENOMEM;
	}
	for (int i = 0; i < n; i++) {
		old[i] = t->rights[keys[i]];
		__atomic_store_n(&t->rights[keys[i]], (uint8_t)rights[i],
				 __ATOMIC_RELAXED);
	}
	for (int i = 0; i < n && rc == 0; i++) {
		int hw = slot(keys[i]);
		if (hw) {
			__atomic_store_n(&last_use[hw], ++use_clock,
					 __ATOMIC_RELAXED);
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

static int set(int key, unsigned rights)
{
	return set_many(&key, &rights, 1);
}

static int get(int key)
{
	int hw = slot(key);

	if (!hw)
		return (int)pk__rights_of(pk__thread_state, key);
	return (int)((pk__rdpkru() >> (2 * hw)) & 3u);
}

static int available(void)
{
	int n = 0;

	for (int k = 1; k < PK__KEYS; k++)
		n += !pk__key_allocated(k);
	return n;
}

/*
 * The kernel enters signal handlers with its own PKRU, so the faulting
 * thread's rights come from the XSAVE image in the signal frame: PKRU
 * is state component 9, at the offset CPUID leaf 0xD subleaf 9 gives.
 * A component absent from XSTATE_BV holds its initial value, 0.
 */
static int frame_pkru(const void *uc, uint32_t *pkru)
{
	const ucontext_t *u = uc;
	const unsigned char *fp;
	unsigned a, b, c, d;
	uint32_t magic, size;
	uint64_t bv;

	if (!u || !u->uc_mcontext.fpregs)
		return -1;
	fp = (const unsigned char *)u->uc_mcontext.fpregs;
	memcpy(&magic, fp + 464, 4);	/* sw_reserved.magic1 */
	memcpy(&size, fp + 464 + 16, 4); /* sw_reserved.xstate_size */
	if (magic != 0x46505853u)	/* FP_XSTATE_MAGIC1 */
		return -1;
	__cpuid_count(0xd, 9, a, b, c, d);
	if (a < 4 || b + 4 > size)
		return -1;
	memcpy(&bv, fp + 512, 8);	/* xsave header: XSTATE_BV */
	*pkru = 0;
	if (bv & (1u << 9))
		memcpy(pkru, fp + b, 4);
	return 0;
}

/* Write PKRU into the signal frame, for the kernel to load on return. */
static void frame_set_pkru(void *uc, uint32_t pkru)
{
	ucontext_t *u = uc;
	unsigned char *fp;
	unsigned a, b, c, d;
	uint64_t bv;

	if (!u || !u->uc_mcontext.fpregs)
		return;
	fp = (unsigned char *)u->uc_mcontext.fpregs;
	__cpuid_count(0xd, 9, a, b, c, d);
	memcpy(fp + b, &pkru, 4);
	memcpy(&bv, fp + 512, 8);
	bv |= 1u << 9;
	memcpy(fp + 512, &bv, 8);
}

/* In the sync signal's handler: rebuild this thread's PKRU. */
static void rebuild(void *uc)
{
	struct pk__thread *t = pk__thread_state;
	uint32_t now;

	if (frame_pkru(uc, &now))
		return;
	frame_set_pkru(uc, pkru_for(t, now));
	if (t)
		__atomic_add_fetch(&t->sync_seq, 1, __ATOMIC_RELEASE);
}

static int init(void)
{
	return pk__x86_sync_init(rebuild);
}

static int set_all(int key)
{
	struct pk__thread *t = pk__thread_state;

	if (!slot(key))
		return apply_evicted(key);
	if (t)
		load(t);
	else
		pk__wrpkru(pkru_for(NULL, pk__rdpkru()));
	return pk__x86_sync_all();
}

/* A thread left: evicted keys' unions may have shrunk. */
static void threads_changed(void)
{
	for (int k = 1; k < PK__KEYS; k++)
		if (pk__reg_by_key[k] && !slot(k))
			rekey_pages(k, 0);
}

static int frame_rights(const void *uc, uint32_t *raw)
{
	return frame_pkru(uc, raw);
}

/*
 * pk_try after the fault: the thread's rights from its record, the bits
 * of keys the library does not own from PKRU at the fault.  Not raw
 * alone: a key move since the fault may have given its hardware key to
 * another key, and raw still holds the old owner's bits.  Retried as in
 * load() when a sync round lands meanwhile.
 */
static void restore_rights(uint32_t raw)
{
	struct pk__thread *t = pk__thread_state;
	unsigned seq;

	if (!t) {
		pk__wrpkru(pkru_for(NULL, raw));
		return;
	}
	do {
		seq = __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE);
		pk__wrpkru(pkru_for(t, raw));
	} while (seq != __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE));
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
 * SEGV_PKUERR names the hardware key; the frame holds the thread's PKRU
 * at the fault.  But a key move between the fault and this decode may
 * have given that hardware key to another key, or sent the key's pages
 * back to key 0 (si_pkey 0): then the registry says which key the page
 * carries.  SEGV_ACCERR on a keyed page is an evicted key's narrowing.
 */
static int fault_key(const siginfo_t *info, const void *uc, int access,
		     unsigned *rights)
{
	uint32_t pkru;
	int hw, key;

	if (info->si_code == SEGV_PKUERR_CODE) {
		memcpy(&hw, (const char *)info + SI_PKEY_OFFSET, sizeof(hw));
		/* A hardware key the library never had (execute-only, or the
		 * program's own pkey_alloc): not ours, and no lock to wait. */
		if (hw > 0 && (hw >= PK__MAX_KEYS ||
			       !(__atomic_load_n(&pool, __ATOMIC_RELAXED) &
				 (1u << hw))))
			return -1;
		if (hw > 0) {
			key = __atomic_load_n(&owner[hw], __ATOMIC_ACQUIRE);
			if (key > 0 && slot(key) == hw) {
				if (!own_prot_allows(info, access))
					return -1;
				if (frame_pkru(uc, &pkru) == 0)
					*rights = (pkru >> (2 * hw)) & 3u;
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
	snprintf(why, len, "not an x86-64 Linux build");
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
static int available(void) { return 0; }
static int fault_key(const siginfo_t *i, const void *u, int x, unsigned *r)
{
	(void)i; (void)u; (void)x; (void)r;
	return -1;
}

#endif

const struct pk__backend pk__backend_x86_pku = {
	.name = "x86_pku",
	.nkeys = PK__KEYS,
	.narrows = 1,
	.guarantee = "hardware: every access is checked against the thread's "
		     "PKRU; keys beyond the hardware's share them, the least "
		     "recently used enforced as on the emulation",
	.probe = probe,
	.key_alloc = key_alloc,
	.key_free = key_free,
	.protect = protect,
	.set = set,
	.set_many = set_many,
	.get = get,
	.available = available,
	.fault_key = fault_key,
	.set_all = set_all,
	.threads_changed = threads_changed,
	.init = init,
#if defined(__x86_64__) && defined(SYS_pkey_alloc)
	.frame_rights = frame_rights,
	.restore_rights = restore_rights,
#endif
};
