/* SPDX-License-Identifier: MIT */
/*
 * The range calls: protection with a key, key assignments over ranges,
 * keyed mappings.  Every check happens before the first change, and a
 * change is planned and applied all or nothing (core/change.c).
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/api.h"
#include "core/errors.h"
#include "backend/select.h"
#include "core/change.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/registry.h"
#include "os/page.h"
#include "os/sys.h"
#include "os/vma.h"

static int mprotect_keyed(void *addr, size_t len, int prot, int key,
			  int strict)
{
	const struct pk__backend *b = pk__ready();
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
		return b || key <= 0 ? -EINVAL : pk_init();
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

/*
 * The interposed mprotect(2) (strict 0) answers with mprotect(2)'s
 * errors, pk_mprotect with its man page's (core/errors.c).
 */
int pk__mprotect(void *addr, size_t len, int prot, int key, int strict)
{
	return pk__api_err(strict ? PK__CALL_MPROTECT : PK__CALL_SYS_MPROTECT,
			   mprotect_keyed(addr, len, prot, key, strict));
}

int pk_mprotect(void *addr, size_t len, int prot, int key)
{
	return pk__mprotect(addr, len, prot, key, 1);
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
	if (*end > pk__user_end() || (len && *start < page))
		return -EFAULT;
	return 0;
}

static int protect_range(void *addr, size_t len, int key, unsigned flags)
{
	const struct pk__backend *b = pk__ready();
	uintptr_t start, end;
	int rc;

	if (!b)
		return pk_init();
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

static int unprotect_range(void *addr, size_t len, unsigned flags)
{
	const struct pk__backend *b = pk__ready();
	uintptr_t start, end;
	int rc;

	if (!b)
		return pk_init();
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
	key = pk__reg_key_of((uintptr_t)addr);
	if (key >= 0)
		return key;
	key = 0;
	pk__lock_take();
	r = pk__reg_find((uintptr_t)addr);
	if (r)
		key = r->key;
	pk__lock_drop();
	return key;
}

static int mmap_keyed(void **addr, size_t len, int prot, int flags,
		      int key)
{
	const struct pk__backend *b = pk__ready();
	size_t page = pk__page_size();
	uintptr_t start, end;
	void *p, *hint;
	int rc;

	if (!addr || len == 0 || len > SIZE_MAX - page + 1 ||
	    (prot & ~PK__PROT_MASK) || key < -1 ||
	    (key > 0 && !pk__key_allocated(key)))
		return !b && key > 0 ? pk_init() : -EINVAL;
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
	p = (void *)pk__syscall(SYS_mmap, hint, len, PROT_NONE,
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
			pk__syscall(SYS_munmap, p, len);
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
			pk__syscall(SYS_munmap, p, len);
			pk__reg_unmapped(start, end);
		}
		pk__lock_drop();
	}
	if (rc == 0)
		*addr = p;
	return rc;
}

/*
 * The highest free stretch of len bytes below `below` that meets no
 * persistent assignment: the free gaps between the kernel's mappings
 * (pk__vma_walk), less the assignments in them.
 */
struct room {
	uintptr_t below, len, prev_end, best;
};

static void room_in_gap(struct room *m, uintptr_t start, uintptr_t end)
{
	uintptr_t at = start;

	if (end > m->below)
		end = m->below;
	for (struct pk__range *r = pk__reg_lower(start); at < end;
	     r = r ? r->next[0] : NULL) {
		uintptr_t stop = end;

		while (r && (r->end <= at || !(r->flags & PK__R_PERSIST)))
			r = r->next[0];
		if (r && r->start < end)
			stop = r->start > at ? r->start : at;
		if (stop >= at + m->len)
			m->best = stop - m->len; /* ascending: the last is highest */
		if (!r || r->start >= end)
			break;
		at = r->end;
	}
}

static int room_walk(void *ctx, uintptr_t start, uintptr_t end, int prot)
{
	struct room *m = ctx;

	(void)prot;
	if (start > m->prev_end)
		room_in_gap(m, m->prev_end, start);
	if (end > m->prev_end)
		m->prev_end = end;
	return 0;
}

/*
 * Anonymous memory the library keeps for itself.  The kernel puts a
 * mapping without an address in the highest free gap that fits, which
 * may be a hole the program keyed ahead of time with PK_RANGE_PERSIST;
 * then the highest free stretch below that placement and outside every
 * assignment is found from the kernel's mappings and taken with
 * MAP_FIXED_NOREPLACE (below the kernel's own choice: never in the
 * stack's room above the mmap base).  Under the lock: no assignment
 * appears meanwhile.  Raw system calls: the interposed mmap would give
 * the pages the assignment's key.
 */
void *pk__map_own(size_t len, int prot, int flags)
{
	size_t page = pk__page_size();
	uintptr_t end;
	struct room m;
	void *p;
	int err = 0;

	flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	len = (len + page - 1) & ~(page - 1);
	if (!pk__backend_peek())
		return (void *)pk__syscall(SYS_mmap, NULL, len, prot, flags, -1, 0);
	pk__lock_take();
	p = (void *)pk__syscall(SYS_mmap, NULL, len, prot, flags, -1, 0);
	end = (uintptr_t)p + len;
	if (p != MAP_FAILED && pk__reg_persist_in((uintptr_t)p, end)) {
		pk__syscall(SYS_munmap, p, len);
		m = (struct room){.below = (uintptr_t)p, .len = len,
				  .prev_end = 16 * page};
		err = pk__vma_walk(m.prev_end, m.below, room_walk, &m);
		if (err == 0 && m.prev_end < m.below)
			room_in_gap(&m, m.prev_end, m.below);
		p = MAP_FAILED;
		if (err == 0 && m.best)
			p = (void *)pk__syscall(SYS_mmap, m.best, len, prot,
					    flags | MAP_FIXED_NOREPLACE, -1, 0);
		err = p != MAP_FAILED ? 0 : err ? -err : m.best ? errno : ENOMEM;
	}
	pk__lock_drop();
	if (err)
		errno = err;
	return p;
}

static int munmap_keyed(void *addr, size_t len)
{
	size_t page = pk__page_size();
	uintptr_t start = (uintptr_t)addr;
	int rc = 0;

	if ((start & (page - 1)) || len == 0 || len > SIZE_MAX - page + 1)
		return -EINVAL;
	len = (len + page - 1) & ~(page - 1);
	pk__lock_take();
	if (pk__syscall(SYS_munmap, addr, len))
		rc = -errno;
	else
		pk__reg_unmapped(start, start + len);
	pk__lock_drop();
	return rc;
}

/* The public calls' failures go through pk__api_err (core/errors.c). */
int pk_protect_range(void *addr, size_t len, int key, unsigned flags)
{
	return pk__api_err(PK__CALL_PROTECT_RANGE,
			   protect_range(addr, len, key, flags));
}

int pk_unprotect_range(void *addr, size_t len, unsigned flags)
{
	return pk__api_err(PK__CALL_UNPROTECT_RANGE,
			   unprotect_range(addr, len, flags));
}

int pk_mmap(void **addr, size_t len, int prot, int flags, int key)
{
	return pk__api_err(PK__CALL_MMAP,
			   mmap_keyed(addr, len, prot, flags, key));
}

int pk_munmap(void *addr, size_t len)
{
	return pk__api_err(PK__CALL_MUNMAP, munmap_keyed(addr, len));
}
