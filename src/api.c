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
static uint32_t keys;

int pk__key_allocated(int key)
{
	return key > 0 && key < PK__MAX_KEYS &&
	       (__atomic_load_n(&keys, __ATOMIC_ACQUIRE) >> key & 1u);
}

long pk__sys_mprotect(void *addr, size_t len, int prot)
{
	return syscall(SYS_mprotect, addr, len, prot);
}

long pk__sys_pkey_mprotect(void *addr, size_t len, int prot, int key)
{
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

int pk_key_alloc(unsigned flags, unsigned rights)
{
	const struct pk__backend *b = ready();
	int key;

	if (!b)
		return pk__init_status();
	if (flags || (rights & ~PK__RIGHTS_MASK))
		return -EINVAL;
	pk__lock_take();
	key = b->key_alloc(rights);
	if (key > 0)
		__atomic_or_fetch(&keys, 1u << key, __ATOMIC_RELEASE);
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
	else if ((rc = b->key_free(key)) == 0)
		__atomic_and_fetch(&keys, ~(1u << key), __ATOMIC_RELEASE);
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

/*
 * mincore(2) fails with ENOMEM when any page of the range is unmapped
 * and has no side effect, unlike mprotect, which changes the pages
 * before the hole and then fails.  Checked in chunks to bound the stack.
 */
static int all_mapped(uintptr_t start, uintptr_t end)
{
	unsigned char vec[256];
	size_t page = pk__page_size(), chunk = sizeof(vec) * page;

	while (start < end) {
		size_t n = end - start < chunk ? end - start : chunk;
		if (syscall(SYS_mincore, (void *)start, n, vec))
			return errno == ENOMEM ? -ENOMEM : -errno;
		start += n;
	}
	return 0;
}

/*
 * key -1 keeps each page's key: the registry's ranges are re-applied with
 * their own keys (the emulation must narrow each by its key's rights) and
 * the gaps between them get plain mprotect.  If a piece fails, the pieces
 * done so far get their old protection back.
 */
static int protect_keep_keys(const struct pk__backend *b, uintptr_t start,
			     uintptr_t end, int prot)
{
	uintptr_t at = start;
	size_t i = pk__reg_lower(start);
	int rc = 0;

	while (at < end && rc == 0) {
		if (i < pk__reg_n && pk__reg[i].start <= at) {
			uintptr_t e = pk__reg[i].end < end ? pk__reg[i].end : end;
			rc = b->protect((void *)at, e - at, prot, pk__reg[i].key);
			if (rc == 0)
				at = e;
			i++;
		} else {
			uintptr_t e = i < pk__reg_n && pk__reg[i].start < end
					      ? pk__reg[i].start
					      : end;
			rc = b->protect((void *)at, e - at, prot, -1);
			if (rc == 0)
				at = e;
		}
	}
	if (rc && at > start) {
		/* Only keyed pieces have a known old protection to go back to. */
		for (i = pk__reg_lower(start); i < pk__reg_n && pk__reg[i].start < at; i++) {
			uintptr_t s = pk__reg[i].start > start ? pk__reg[i].start : start;
			uintptr_t e = pk__reg[i].end < at ? pk__reg[i].end : at;
			b->protect((void *)s, e - s, pk__reg[i].prot, pk__reg[i].key);
		}
	}
	if (rc == 0)
		pk__reg_set_prot(start, end, prot);
	return rc;
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
	if (!b) { /* No backend: the default key still works, as mprotect. */
		rc = all_mapped(start, end);
		if (rc == 0 && pk__sys_mprotect(addr, len, prot))
			rc = -errno;
		return rc;
	}

	pk__lock_take();
	rc = all_mapped(start, end);
	if (rc == 0)
		rc = pk__reg_reserve(4);
	/* Recheck under the lock: another thread may have freed the key. */
	if (rc == 0 && key > 0 && !pk__key_allocated(key))
		rc = -EINVAL;
	if (rc == 0) {
		if (key == -1) {
			rc = protect_keep_keys(b, start, end, prot);
		} else {
			rc = b->protect(addr, len, prot, key);
			if (rc == 0)
				pk__reg_assign(start, end, key, prot);
		}
	}
	pk__lock_drop();
	return rc;
}

int pk_mprotect(void *addr, size_t len, int prot, int key)
{
	return pk__mprotect(addr, len, prot, key, 1);
}

void pk__forget(void *addr, size_t len)
{
	uintptr_t start = (uintptr_t)addr & ~(pk__page_size() - 1);
	uintptr_t end = (uintptr_t)addr + len;

	if (end < start)
		return;
	pk__lock_take();
	if (pk__reg_reserve(2) == 0)
		pk__reg_assign(start, end, 0, 0);
	pk__lock_drop();
}

int pk_fault_decode(const siginfo_t *info, const void *ucontext,
		    struct pk_fault *out)
{
	/* Never choose a backend here: that is not async-signal-safe. */
	const struct pk__backend *b = pk__backend_peek();
	int access = 0;

	if (!info || !out || info->si_signo != SIGSEGV)
		return -EINVAL;
#if defined(__x86_64__)
	/* Bit 1 of the x86 page-fault error code: the access was a write. */
	if (ucontext) {
		const ucontext_t *uc = ucontext;
		access = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? PK_ACCESS_WRITE
							       : PK_ACCESS_READ;
	}
#endif
	out->addr = info->si_addr;
	out->access = access;
	out->rights = 0;
	out->key = b ? b->fault_key(info, ucontext, access, &out->rights) : -1;
	return out->key > 0;
}
