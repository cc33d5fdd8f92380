/* SPDX-License-Identifier: MIT */
/*
 * FreeBSD's protection key calls on the library
 * (include/pkeys/freebsd.h).
 *
 * FreeBSD programs pick key indexes themselves; there is no allocator.
 * Taking library key k for index k would share it with whatever other
 * code in the process allocated k (a pk_heap, a glibc-layer caller), and
 * the kernel may hold some numbers on the hardware backend.  So each
 * index is bound, at the first call that needs it, to a fresh key from
 * pk_key_alloc, kept for the life of the process (FreeBSD has no free);
 * a call that fails binds nothing.  When no key is left to bind, the
 * call fails with ENOMEM: FreeBSD's error for a resource shortage.
 *
 * The thread whose call binds an index gets full access to it, as every
 * FreeBSD thread starts with; threads that exist then start with it
 * access-disabled, as they would for a new key on Linux.  Full access in
 * every thread would keep the key's pages open for all of them on the
 * emulation, which opens a key's pages while any thread holds it.
 *
 * The argument checks follow FreeBSD's kernel, in its order: index
 * and flags (EINVAL) first, then the range (EFAULT), then whether keys
 * work at all (EOPNOTSUPP: here, whether any backend works).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>

#include <pkeys/freebsd.h>

#include "core/errors.h"
#include "core/lock.h"
#include "os/page.h"
#include "pkeys.h"

#define FREEBSD_KEYS 16

/* The library key bound to each index; 0 while unbound. */
static int bound[FREEBSD_KEYS];

/*
 * The one place where the library's -errno becomes -1 and errno: first
 * one of the errors pkeys_freebsd(3) lists for the call (core/errors.c
 * maps the others), then ENOSPC, no library key left to bind an index
 * to, is FreeBSD's ENOMEM.
 */
static int freebsd_result(enum pk__call call, int rc)
{
	rc = pk__api_err(call, rc);
	if (rc >= 0)
		return 0;
	errno = rc == -ENOSPC ? ENOMEM : -rc;
	return -1;
}

/* Keys work here at all: pk_init's error, whatever it is, means no. */
static int supported(void)
{
	return pk_init() == 0 ? 0 : -EOPNOTSUPP;
}

/* The library key bound to keyidx (1..15), or 0. */
static int bound_key(unsigned keyidx)
{
	return __atomic_load_n(&bound[keyidx], __ATOMIC_ACQUIRE);
}

/*
 * Run use(key, ctx) with the key of keyidx, binding the index first if
 * needed.  A binding is published only once use succeeded, so a failing
 * call leaves the index unbound and no other thread ever sees a key
 * that is freed again.  Binding is serialised by a lock taken with
 * signals blocked (a handler's call cannot find its own thread holding
 * it), except those the library needs delivered: synchronous faults,
 * and the hardware backend's signal that rebuilds a waiting thread's
 * rights register while pk_key_alloc changes every thread's rights.
 */
static pthread_mutex_t bind_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t bind_once = PTHREAD_ONCE_INIT;

/*
 * fork waits for a binding in progress, as for the library's own lock
 * (registered after it, so taken before it: the order with_key uses).
 */
static void bind_prepare(void)
{
	pthread_mutex_lock(&bind_lock);
}

static void bind_after(void)
{
	pthread_mutex_unlock(&bind_lock);
}

static void bind_atfork(void)
{
	(void)pk_init(); /* the library's handlers first */
	pthread_atfork(bind_prepare, bind_after, bind_after);
}

static int with_key(unsigned keyidx, int (*use)(int key, void *ctx),
		    void *ctx)
{
	sigset_t block, saved;
	int key = keyidx ? bound_key(keyidx) : 0, rc;

	if (keyidx == 0 || key)
		return use(key, ctx);
	pthread_once(&bind_once, bind_atfork);
	pk__lock_mask(&block); /* as the library's lock, for the same reasons */
	pthread_sigmask(SIG_BLOCK, &block, &saved);
	pthread_mutex_lock(&bind_lock);
	key = bound_key(keyidx);
	if (key) {
		rc = use(key, ctx);
	} else {
		key = rc = pk_key_alloc(0, PK_DISABLE_ACCESS);
		if (rc > 0 && (rc = pk_set(key, 0)) == 0 &&
		    (rc = use(key, ctx)) == 0)
			__atomic_store_n(&bound[keyidx], key, __ATOMIC_RELEASE);
		else if (key > 0)
			pk_key_free(key);
	}
	pthread_mutex_unlock(&bind_lock);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	return rc;
}

/*
 * FreeBSD's range: the start truncated to its page, the end rounded up,
 * and the result inside user space (empty, wrapping or beyond it is
 * EFAULT), all checked before anything is bound.  Page 0 is never user
 * memory on Linux (mmap_min_addr).
 */
static int pages(void *addr, unsigned long len, uintptr_t *sva, size_t *n)
{
	uintptr_t page = (uintptr_t)pk__page_size();
	uintptr_t top = pk__user_end() + page; /* the kernel's TASK_SIZE */
	uintptr_t s = (uintptr_t)addr, e;

	if (len > UINTPTR_MAX - s || s + len > UINTPTR_MAX - (page - 1))
		return -EFAULT;
	e = (s + len + page - 1) & ~(page - 1);
	s &= ~(page - 1);
	if (e <= s || s < page || e > top)
		return -EFAULT;
	*sva = s;
	*n = e - s;
	return 0;
}

int pk_freebsd_key(unsigned int keyidx)
{
	if (keyidx >= FREEBSD_KEYS)
		return -EINVAL;
	return keyidx ? bound_key(keyidx) : 0;
}

int pkeys_x86_pkru_get_perm(unsigned int keyidx, int *access, int *modify)
{
	int rc = supported(), key, rights = 0;

	if (rc == 0 && keyidx >= FREEBSD_KEYS)
		rc = -EINVAL;
	if (rc)
		return freebsd_result(PK__CALL_FREEBSD_PERM, rc);
	/* An index not bound yet has the full access FreeBSD starts with. */
	key = keyidx ? bound_key(keyidx) : 0;
	if (key > 0 && (rights = pk_get(key)) < 0)
		return freebsd_result(PK__CALL_FREEBSD_PERM, rights);
	if (access)
		*access = !(rights & PK_DISABLE_ACCESS);
	if (modify)
		*modify = !(rights & PK_DISABLE_WRITE);
	return 0;
}

static int set_rights(int key, void *rights)
{
	return pk_set(key, *(unsigned *)rights);
}

int pkeys_x86_pkru_set_perm(unsigned int keyidx, int access, int modify)
{
	unsigned rights = (access ? 0 : PK_DISABLE_ACCESS) |
			  (modify ? 0 : PK_DISABLE_WRITE);
	int rc = supported();

	if (rc == 0 && keyidx >= FREEBSD_KEYS)
		rc = -EINVAL;
	/* Key 0 covers every stack: pk_set refuses to restrict it (EINVAL). */
	if (rc == 0)
		rc = with_key(keyidx, set_rights, &rights);
	return freebsd_result(PK__CALL_FREEBSD_PERM, rc);
}

struct range {
	uintptr_t sva;
	size_t n;
	unsigned flags;
};

static int assign(int key, void *range)
{
	struct range *r = range;

	return pk_protect_range((void *)r->sva, r->n, key, r->flags);
}

int pkeys_x86_pkru_protect_range(void *addr, unsigned long len,
				 unsigned int keyidx, int flags)
{
	struct range r = {0, 0, PK_NO_CHECK_AUTHORITY};
	int rc;

	if (keyidx >= FREEBSD_KEYS ||
	    (flags & ~(AMD64_PKRU_EXCL | AMD64_PKRU_PERSIST)))
		return freebsd_result(PK__CALL_FREEBSD_RANGE, -EINVAL);
	if ((rc = pages(addr, len, &r.sva, &r.n)) || (rc = supported()))
		return freebsd_result(PK__CALL_FREEBSD_RANGE, rc);
	if (flags & AMD64_PKRU_EXCL)
		r.flags |= PK_RANGE_EXCL;
	if (flags & AMD64_PKRU_PERSIST)
		r.flags |= PK_RANGE_PERSIST;
	return freebsd_result(PK__CALL_FREEBSD_RANGE,
			      with_key(keyidx, assign, &r));
}

int pkeys_x86_pkru_unprotect_range(void *addr, unsigned long len)
{
	uintptr_t sva;
	size_t n;
	int rc;

	if ((rc = pages(addr, len, &sva, &n)) || (rc = supported()))
		return freebsd_result(PK__CALL_FREEBSD_RANGE, rc);
	return freebsd_result(PK__CALL_FREEBSD_RANGE,
			      pk_unprotect_range((void *)sva, n,
						 PK_NO_CHECK_AUTHORITY));
}
