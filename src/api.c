/*
 * The public key calls: argument checks, the table of allocated keys and
 * the registry of keyed pages, around the backend in use.  Every check
 * happens before the first change, so a failing call changes nothing.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

/* Bit k: key k was allocated through the library and not freed. */
static uint32_t keys[PK__KEYS / 32];

int pk__key_allocated(int key)
{
	return key > 0 && key < PK__KEYS &&
	       (__atomic_load_n(&keys[key / 32], __ATOMIC_ACQUIRE) >> (key % 32) & 1u);
}

static void key_mark(int key, int on)
{
	if (on)
		__atomic_or_fetch(&keys[key / 32], 1u << (key % 32), __ATOMIC_RELEASE);
	else
		__atomic_and_fetch(&keys[key / 32], ~(1u << (key % 32)),
				   __ATOMIC_RELEASE);
}

/* Test hook: the nth protection call from now fails with err. */
static int fail_countdown, fail_err;

void pk__test_fail_protect(int nth, int err)
{
	__atomic_store_n(&fail_err, err, __ATOMIC_RELAXED);
	__atomic_store_n(&fail_countdown, nth, __ATOMIC_RELAXED);
}

static int injected(void)
{
	if (__atomic_load_n(&fail_countdown, __ATOMIC_RELAXED) <= 0 ||
	    __atomic_sub_fetch(&fail_countdown, 1, __ATOMIC_RELAXED) != 0)
		return 0;
	errno = fail_err;
	return 1;
}

long pk__sys_mprotect(void *addr, size_t len, int prot)
{
	if (injected())
		return -1;
	return syscall(SYS_mprotect, addr, len, prot);
}

long pk__sys_pkey_mprotect(void *addr, size_t len, int prot, int key)
{
	if (injected())
		return -1;
#ifdef SYS_pkey_mprotect
	return syscall(SYS_pkey_mprotect, addr, len, prot, key);
#else
	if (key > 0) {
		errno = ENOSYS;
		return -1;
	}
	return syscall(SYS_mprotect, addr, len, prot);
#endif
}

static const struct pk__backend *ready(void)
{
	return pk__init_status() ? NULL : pk__backend();
}

/*
 * Every thread, existing or future, starts with a new key's initial
 * rights: records forget what they held for a key number freed before,
 * and the backend makes it so in every thread before this returns.
 */
int pk_key_alloc(unsigned flags, unsigned rights)
{
	const struct pk__backend *b = ready();
	int key, rc;

	if (!b)
		return pk__init_status();
	if (flags || (rights & ~PK__RIGHTS_MASK))
		return -EINVAL;
	pk__lock_take();
	if (!pk__self_locked()) {
		pk__lock_drop();
		return -ENOMEM;
	}
	key = b->key_alloc(rights);
	if (key > 0) {
		key_mark(key, 1);
		__atomic_store_n(&pk__init_rights[key], (uint8_t)rights,
				 __ATOMIC_RELAXED);
		for (struct pk__thread *t = pk__threads; t; t = t->next)
			__atomic_store_n(&t->rights[key], PK__RIGHTS_UNSET,
					 __ATOMIC_RELAXED);
		pk__threads_recount();
		rc = b->set_all(key);
		if (rc) {
			key_mark(key, 0);
			b->key_free(key);
			key = rc;
		}
	}
	pk__lock_drop();
	return key;
}

int pk_key_free(int key)
{
	const struct pk__backend *b = ready();
	int rc;

	if (!b)
		return pk__init_status();
	pk__lock_take();
	if (!pk__key_allocated(key))
		rc = -EINVAL;
	else if (pk__reg_key_in_use(key))
		rc = -EBUSY;
	else {
		/*
		 * Domain entry takes no lock: it counts itself a user, then
		 * checks this flag.  Set the flag, then read the count: one
		 * of the two sees the other (domain.c).
		 */
		__atomic_store_n(&pk__key_freeing[key], 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&pk__domain_users[key], __ATOMIC_SEQ_CST))
			rc = -EBUSY;
		else if ((rc = b->key_free(key)) == 0) {
			key_mark(key, 0);
			pk__key_forget_name(key);
		}
		__atomic_store_n(&pk__key_freeing[key], 0, __ATOMIC_RELEASE);
	}
	pk__lock_drop();
	return rc;
}

/*
 * Every thread's rights for key, changed before this returns.  The old
 * rights are kept so that a failure puts every record back.
 */
int pk_set_all(int key, unsigned rights)
{
	const struct pk__backend *b = ready();
	uint8_t *old, old_init;
	int i, n, rc;

	if (!b)
		return pk__init_status();
	if (rights & ~PK__RIGHTS_MASK)
		return -EINVAL;
	if (key == PK_KEY_DEFAULT)
		return rights ? -EINVAL : 0;
	pk__lock_take();
	if (!pk__key_allocated(key)) {
		pk__lock_drop();
		return -EINVAL;
	}
	old = pk__arena_scratch((size_t)pk__threads_n + 1);
	if (!old) {
		pk__lock_drop();
		return -ENOMEM;
	}
	n = 0;
	for (struct pk__thread *t = pk__threads; t; t = t->next) {
		old[n++] = t->rights[key];
		__atomic_store_n(&t->rights[key], (uint8_t)rights,
				 __ATOMIC_RELAXED);
	}
	old_init = pk__init_rights[key];
	__atomic_store_n(&pk__init_rights[key], (uint8_t)rights,
			 __ATOMIC_RELAXED);
	pk__threads_recount();
	rc = b->set_all(key);
	if (rc) {
		i = 0;
		for (struct pk__thread *t = pk__threads; t; t = t->next)
			__atomic_store_n(&t->rights[key], old[i++],
					 __ATOMIC_RELAXED);
		__atomic_store_n(&pk__init_rights[key], old_init,
				 __ATOMIC_RELAXED);
		b->set_all(key);
	}
	pk__lock_drop();
	return rc;
}

int pk_set(int key, unsigned rights)
{
	const struct pk__backend *b;

	if (rights & ~PK__RIGHTS_MASK)
		return -EINVAL;
	/* The default key works on every machine, with or without backend. */
	if (key == PK_KEY_DEFAULT)
		return rights ? -EINVAL : 0;
	b = ready();
	if (!b)
		return pk__init_status();
	if (!pk__key_allocated(key))
		return -EINVAL;
	return b->set(key, rights);
}

int pk_get(int key)
{
	const struct pk__backend *b;

	if (key == PK_KEY_DEFAULT)
		return 0;
	b = ready();
	if (!b)
		return pk__init_status();
	if (!pk__key_allocated(key))
		return -EINVAL;
	return b->get(key);
}

int pk_keys_available(void)
{
	const struct pk__backend *b = ready();
	int n;

	if (!b)
		return pk__init_status();
	pk__lock_take();
	n = b->available();
	pk__lock_drop();
	return n;
}

int pk__mprotect(void *addr, size_t len, int prot, int key, int strict)
{
	const struct pk__backend *b = ready();
	uintptr_t start = (uintptr_t)addr, end;
	size_t page = pk__page_size();
	int rc;

	if ((strict && !addr) || (start & (page - 1)))
		return -EINVAL;
	if (strict && (prot & ~PK__PROT_MASK))
		return -EINVAL;
	if (len > SIZE_MAX - page + 1)
		return -EINVAL;
	len = (len + page - 1) & ~(page - 1);
	if (start > UINTPTR_MAX - len)
		return -EINVAL;
	end = start + len;
	if (key < -1 || (key > 0 && !pk__key_allocated(key)))
		return b || key <= 0 ? -EINVAL : pk__init_status();
	if (len == 0)
		return 0;
	if (!b) /* No backend: the default key still works, as mprotect. */
		return pk__sys_mprotect(addr, len, prot) ? -errno : 0;

	pk__lock_take();
	/* Recheck under the lock: another thread may have freed the key. */
	if (key > 0 && !pk__key_allocated(key))
		rc = -EINVAL;
	else
		rc = pk__change(b, &(struct pk__change){
			start, end, prot, key,
			PK__C_PROT | (key == 0 ? PK__C_FORGET : 0)});
	pk__lock_drop();
	return rc;
}

int pk_mprotect(void *addr, size_t len, int prot, int key)
{
	return pk__mprotect(addr, len, prot, key, 1);
}

/*
 * The first address past user space: 47-bit, or 56-bit with LA57, less
 * the top page, which x86-64 Linux never maps (TASK_SIZE_MAX).
 */
static uintptr_t user_end(void)
{
	return ((uintptr_t)1 << (pk__la57() ? 56 : 47)) - pk__page_size();
}

/*
 * The range API's checks: flags, whole pages (or widen them with
 * PK_RANGE_ROUND), inside user space; the callers check the key next.
 * Fills *start and *end.
 */
static int range_args(const void *addr, size_t len, unsigned flags,
		      unsigned allowed, uintptr_t *start, uintptr_t *end)
{
	size_t page = pk__page_size();
	uintptr_t s = (uintptr_t)addr;

	if (flags & ~allowed)
		return -EINVAL;
	if (((s | len) & (page - 1)) && !(flags & PK_RANGE_ROUND))
		return -ERANGE;
	if (len == 0) { /* nothing to change, not even a widened page */
		*start = *end = s;
		return 0;
	}
	/* Rounding up must not wrap past the top of the address space. */
	if (s > UINTPTR_MAX - (page - 1) || len > UINTPTR_MAX - (page - 1) - s)
		return -EFAULT;
	*start = s & ~(page - 1);
	*end = (s + len + page - 1) & ~(page - 1);
	/* Page 0 is never user memory (mmap_min_addr). */
	if (*end > user_end() || (len && *start < page))
		return -EFAULT;
	return 0;
}

int pk_protect_range(void *addr, size_t len, int key, unsigned flags)
{
	const struct pk__backend *b = ready();
	uintptr_t start, end;
	int rc;

	if (!b)
		return pk__init_status();
	rc = range_args(addr, len, flags,
			PK_RANGE_EXCL | PK_RANGE_PERSIST |
				PK_NO_CHECK_AUTHORITY | PK_RANGE_ROUND,
			&start, &end);
	if (rc)
		return rc;
	if (key < 0 || (key > 0 && !pk__key_allocated(key)))
		return -EINVAL;
	if (start == end)
		return 0;
	pk__lock_take();
	if (key > 0 && !pk__key_allocated(key))
		rc = -EINVAL;
	else
		rc = pk__change(b, &(struct pk__change){
			start, end, 0, key,
			(flags & PK_RANGE_EXCL ? PK__C_EXCL : 0) |
			(flags & PK_RANGE_PERSIST
				 ? PK__C_PERSIST | PK__C_UNMAPPED_OK : 0) |
			(flags & PK_NO_CHECK_AUTHORITY ? 0 : PK__C_AUTHORITY)});
	pk__lock_drop();
	return rc;
}

int pk_unprotect_range(void *addr, size_t len, unsigned flags)
{
	const struct pk__backend *b = ready();
	uintptr_t start, end;
	int rc;

	if (!b)
		return pk__init_status();
	rc = range_args(addr, len, flags,
			PK_NO_CHECK_AUTHORITY | PK_RANGE_ROUND, &start, &end);
	if (rc || start == end)
		return rc;
	pk__lock_take();
	rc = pk__change(b, &(struct pk__change){
		start, end, 0, 0,
		PK__C_FORGET | PK__C_UNMAPPED_OK |
		(flags & PK_NO_CHECK_AUTHORITY ? 0 : PK__C_AUTHORITY)});
	pk__lock_drop();
	return rc;
}

int pk_key_of(const void *addr)
{
	const struct pk__range *r;
	int key = 0;

	if (pk__reg_empty())
		return 0;
	pk__lock_take();
	r = pk__reg_find((uintptr_t)addr);
	if (r)
		key = r->key;
	pk__lock_drop();
	return key;
}

void pk__unmapped(uintptr_t start, uintptr_t end)
{
	if (pk__reg_reserve(3) == 0)
		pk__reg_unmap(start, end);
}

int pk_mmap(void **addr, size_t len, int prot, int flags, int key)
{
	const struct pk__backend *b = ready();
	size_t page = pk__page_size();
	uintptr_t start, end;
	void *p, *hint;
	int rc;

	if (!addr || len == 0 || len > SIZE_MAX - page + 1 ||
	    (prot & ~PK__PROT_MASK) || key < -1 ||
	    (key > 0 && !pk__key_allocated(key)))
		return !b && key > 0 ? pk__init_status() : -EINVAL;
	len = (len + page - 1) & ~(page - 1);
	hint = *addr; /* before the lock: the caller's memory may fault */
	/*
	 * Born inaccessible: nothing can reach it before its key is set.
	 * Mapped under the lock, or a pk_set in another thread could apply
	 * the rights of the key the record still gives these addresses
	 * (MAP_FIXED over keyed pages) to the new pages first.
	 */
	if (b)
		pk__lock_take();
	p = (void *)syscall(SYS_mmap, hint, len, PROT_NONE,
			    flags | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		if (b)
			pk__lock_drop();
		return rc;
	}
	start = (uintptr_t)p;
	end = start + len;
	if (!b) {
		rc = pk__sys_mprotect(p, len, prot) ? -errno : 0;
		if (rc)
			syscall(SYS_munmap, p, len);
	} else {
		if (key > 0 && !pk__key_allocated(key))
			rc = -EINVAL;
		else if (key < 0)
			rc = pk__map_new(b, start, end, prot);
		else if ((rc = pk__reg_reserve(6)) == 0) {
			pk__reg_unmap(start, end);
			rc = b->protect(p, len, prot, key);
			if (rc == 0 && key > 0)
				pk__reg_assign(start, end, key, prot,
					       PK__R_MAPPED);
			else if (rc == 0)
				pk__reg_assign(start, end, -1, 0, 0);
		}
		if (rc) {
			syscall(SYS_munmap, p, len);
			pk__unmapped(start, end);
		}
		pk__lock_drop();
	}
	if (rc == 0)
		*addr = p;
	return rc;
}

int pk_munmap(void *addr, size_t len)
{
	size_t page = pk__page_size();
	uintptr_t start = (uintptr_t)addr;
	int rc = 0;

	if ((start & (page - 1)) || len == 0 || len > SIZE_MAX - page + 1)
		return -EINVAL;
	len = (len + page - 1) & ~(page - 1);
	pk__lock_take();
	if (syscall(SYS_munmap, addr, len))
		rc = -errno;
	else
		pk__unmapped(start, start + len);
	pk__lock_drop();
	return rc;
}
