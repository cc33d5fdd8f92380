/*
 * Hardware backend: Linux x86-64 PKU.  Keys come from the kernel's
 * pkey_alloc(2) family, called through syscall(2) so that any C library
 * works; rights live in the thread's PKRU register.  Every RDPKRU and
 * WRPKRU here runs only after probe() has seen OSPKE.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
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

static int key_alloc(unsigned rights)
{
	long key = syscall(SYS_pkey_alloc, 0UL, (unsigned long)rights);

	if (key < 0)
		return -errno;
	if (key >= PK__MAX_KEYS) {
		/* A kernel with more keys than PKRU can name: not ours to use. */
		syscall(SYS_pkey_free, key);
		return -ENOSPC;
	}
	return (int)key;
}

static int key_free(int key)
{
	return syscall(SYS_pkey_free, key) ? -errno : 0;
}

static int protect(void *addr, size_t len, int prot, int key)
{
	return pk__sys_pkey_mprotect(addr, len, prot, key) ? -errno : 0;
}

/* PKRU bits of the keys the library owns; others are left alone. */
static uint32_t owned_mask(void)
{
	uint32_t mask = 0;

	for (int k = 1; k < PK__MAX_KEYS; k++)
		if (pk__key_allocated(k))
			mask |= 3u << (2 * k);
	return mask;
}

/* The PKRU a thread's record asks for, from the one it has now. */
static uint32_t pkru_for(const struct pk__thread *t, uint32_t now)
{
	uint32_t mask = owned_mask(), pkru = now & ~mask;

	for (int k = 1; k < PK__MAX_KEYS; k++)
		if (mask & (3u << (2 * k)))
			pkru |= pk__rights_of(t, k) << (2 * k);
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

static int set_many(const int *keys, const unsigned *rights, int n)
{
	struct pk__thread *t = pk__thread_state;

	if (!t) {
		pk__lock_take();
		t = pk__self_locked();
		pk__lock_drop();
		if (!t)
			return -ENOMEM;
	}
	for (int i = 0; i < n; i++)
		__atomic_store_n(&t->rights[keys[i]], (uint8_t)rights[i],
				 __ATOMIC_RELAXED);
	load(t);
	return 0;
}

static int set(int key, unsigned rights)
{
	return set_many(&key, &rights, 1);
}

static int get(int key)
{
	return (int)((pk__rdpkru() >> (2 * key)) & 3u);
}

/*
 * The kernel does not say how many keys are free, so allocate them all,
 * count, and give them back; pk__lock keeps the library's own callers
 * out meanwhile.  Allocation rewrites this thread's rights: restore them.
 */
static int available(void)
{
	int keys[64], n = 0, k;
	uint32_t saved = pk__rdpkru();

	while (n < 64 && (k = (int)syscall(SYS_pkey_alloc, 0UL, 1UL)) >= 0)
		keys[n++] = k;
	for (k = 0; k < n; k++)
		syscall(SYS_pkey_free, keys[k]);
	pk__wrpkru(saved);
	for (k = 0; k < n; k++)
		if (keys[k] >= PK__MAX_KEYS)
			n--;
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

	(void)key;
	if (t)
		load(t);
	else
		pk__wrpkru(pkru_for(NULL, pk__rdpkru()));
	return pk__x86_sync_all();
}

static void threads_changed(void)
{
}

static int frame_rights(const void *uc, uint32_t *raw)
{
	return frame_pkru(uc, raw);
}

static void restore_rights(uint32_t raw)
{
	pk__wrpkru(raw);
}

static int fault_key(const siginfo_t *info, const void *uc, int access,
		     unsigned *rights)
{
	uint32_t pkru;
	int key;

	(void)access;
	if (info->si_code != SEGV_PKUERR_CODE)
		return -1;
	memcpy(&key, (const char *)info + SI_PKEY_OFFSET, sizeof(key));
	if (key > 0 && key < PK__MAX_KEYS && frame_pkru(uc, &pkru) == 0)
		*rights = (pkru >> (2 * key)) & 3u;
	return key;
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
	.nkeys = PK__MAX_KEYS,
	.narrows = 0,
	.guarantee = "hardware: every access by every thread and by the "
		     "kernel is checked against the thread's PKRU",
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
