/* SPDX-License-Identifier: MIT */
/*
 * Interposers: how the library learns of what the program does behind
 * its back.  libpkeys defines these libc functions itself, so calls made
 * through the dynamic linker reach them first; each forwards to the next
 * definition (libc, or a sanitizer's interceptor) found with RTLD_NEXT.
 *
 *   munmap, mmap(MAP_FIXED), mremap: keyed pages that go away are
 *     forgotten, and moved ones move in the registry, so a later change
 *     of rights never touches a mapping that reused the address (a
 *     fixed move the arguments do not describe, remap.c).
 *   mprotect: on the emulation, a plain mprotect of keyed pages keeps
 *     them narrowed by their key's rights, as the kernel keeps the key.
 *   pthread_create (thread_create.c): on the emulation, the new thread
 *     inherits its creator's rights, as it inherits the rights register
 *     on hardware.
 *
 * Calls over memory that holds no assignment (the registry read without
 * the lock, core/registry.c) forward without taking the lock: they
 * change nothing the library records, and a key call racing with them
 * on the same memory breaks the rule that the program must not change
 * mappings a range call works on.  So the runtimes that map and unmap
 * their own memory while they hold locks of theirs (ThreadSanitizer's
 * report, while a pthread_create that holds the library's lock waits
 * for it) never wait for the library.  Only while a persistent
 * assignment exists do mmap calls without MAP_FIXED still take it.
 *
 * Calls that bypass the dynamic linker are not seen: raw syscall(2),
 * libc's internal calls (free() unmapping a large block), a libpkeys
 * loaded with dlopen after libc.  Keyed memory released that way must
 * first be given key 0 with pk_mprotect (README, "Rules").
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/api.h"
#include "backend/select.h"
#include "core/change.h"
#include "core/lock.h"
#include "core/registry.h"
#include "interpose/interpose.h"
#include "interpose/remap.h"
#include "os/page.h"
#include "os/sys.h"


typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);
typedef void *(*mremap_fn)(void *, size_t, size_t, int, ...);
typedef int (*mprotect_fn)(void *, size_t, int);

static void *call_mmap(mmap_fn fn, void *addr, size_t len, int prot,
		       int flags, int fd, off_t off)
{
	if (fn)
		return fn(addr, len, prot, flags, fd, off);
	return (void *)pk__syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static uintptr_t page_end(void *addr, size_t len)
{
	size_t page = pk__page_size();

	return ((uintptr_t)addr + len + page - 1) & ~(page - 1);
}

/*
 * The protection a shared mapping of fd could not take, which mmap(2)
 * refuses (EACCES) before it replaces anything, but which mprotect(2)
 * would refuse only after a PROT_NONE mapping replaced the old one.
 */
static int open_refused(int prot, int flags, int fd)
{
	int fl;

	if ((flags & MAP_ANONYMOUS) || fd < 0 || !(prot & PROT_WRITE) ||
	    (flags & MAP_TYPE) == MAP_PRIVATE)
		return 0;
	fl = fcntl(fd, F_GETFL);
	return fl != -1 && (fl & O_ACCMODE) != O_RDWR;
}

/*
 * A MAP_FIXED mapping over a persistent assignment is made PROT_NONE
 * and then opened, which replaces the old mapping before the kernel has
 * judged prot: a refusal then (a write-sealed memfd, a noexec mount,
 * memory-deny-write-execute) would lose it.  So the same mapping is
 * first asked for where the kernel likes, and dropped: its errno, if
 * it refuses, is the answer and nothing is replaced.  Not populated,
 * not locked: only the kernel's judgement is wanted.
 */
static int kernel_refuses(mmap_fn fn, size_t len, int prot, int flags,
			  int fd, off_t off)
{
	void *p = call_mmap(fn, NULL, len, prot,
			    flags & ~(MAP_FIXED | MAP_FIXED_NOREPLACE |
				      MAP_POPULATE | MAP_LOCKED),
			    fd, off);

	if (p == MAP_FAILED)
		return errno;
	pk__syscall(SYS_munmap, p, len);
	return 0;
}

/*
 * What a mapping that will be opened with its keys is made with first:
 * PROT_NONE, unless memory-deny-write-execute (prctl PR_SET_MDWE, Linux
 * 6.3) is on and prot executes: the kernel then refuses to add
 * PROT_EXEC later, so the mapping starts executable, which keys never
 * govern (where the CPU has no keys, x86 makes it readable too, for
 * that instant).
 */
#define PR_GET_MDWE_ 66
#define PR_MDWE_REFUSE_EXEC_GAIN_ 1
static int first_prot(int prot)
{
	if (!(prot & PROT_EXEC))
		return PROT_NONE;
	return (syscall(SYS_prctl, PR_GET_MDWE_, 0L, 0L, 0L, 0L) &
		PR_MDWE_REFUSE_EXEC_GAIN_) > 0
		       ? PROT_EXEC
		       : PROT_NONE;
}

/*
 * The registry update and the system call happen under the lock, so no
 * key call of another thread sees the address range half changed.
 * Where the kernel may place the mapping in a persistent assignment
 * (anywhere, without MAP_FIXED; over one, with it), the mapping is made
 * PROT_NONE and opened with its keys (pk__map_new): never reachable
 * without them.
 */
static void *keyed_mmap(mmap_fn fn, void *addr, size_t len, int prot,
			int flags, int fd, off_t off)
{
	const struct pk__backend *b = pk__backend_peek();
	int persist = __atomic_load_n(&pk__reg_persist_n, __ATOMIC_RELAXED);
	void *p;
	int rc;

	if (!b || (!persist && (!(flags & MAP_FIXED) || pk__reg_empty() ||
				pk__reg_overlaps_nolock((uintptr_t)addr,
							page_end(addr, len)) == 0)))
		return call_mmap(fn, addr, len, prot, flags, fd, off);
	pk__lock_take();
	if (persist && (flags & MAP_FIXED) &&
	    !pk__reg_persist_in((uintptr_t)addr, page_end(addr, len)))
		persist = 0;
	if (persist && open_refused(prot, flags, fd)) {
		pk__lock_drop();
		errno = EACCES;
		return MAP_FAILED;
	}
	if (persist && (flags & MAP_FIXED) && (rc = kernel_refuses(fn, len, prot,
								flags, fd, off))) {
		pk__lock_drop();
		errno = rc;
		return MAP_FAILED;
	}
	p = call_mmap(fn, addr, len, persist ? first_prot(prot) : prot, flags,
		      fd, off);
	if (p != MAP_FAILED) {
		if (!persist) {
			pk__reg_unmapped((uintptr_t)p, page_end(p, len));
		} else if ((rc = pk__map_new(b, (uintptr_t)p, page_end(p, len),
					     prot))) {
			pk__syscall(SYS_munmap, p, len);
			pk__reg_unmapped((uintptr_t)p, page_end(p, len));
			errno = -rc;
			p = MAP_FAILED;
		}
	}
	pk__lock_drop();
	return p;
}

PK_API void *mmap(void *addr, size_t len, int prot, int flags, int fd,
		  off_t off)
{
	NEXT(mmap_fn, mmap);
	return keyed_mmap(next_mmap, addr, len, prot, flags, fd, off);
}

/* musl has no mmap64 of its own: its header makes the name a macro. */
#ifndef mmap64
PK_API void *mmap64(void *addr, size_t len, int prot, int flags, int fd,
		    off_t off)
{
	NEXT(mmap_fn, mmap64);
	return keyed_mmap(next_mmap64, addr, len, prot, flags, fd, off);
}
#endif

PK_API int munmap(void *addr, size_t len)
{
	int rc;

	NEXT(munmap_fn, munmap);
	if (pk__reg_empty() ||
	    pk__reg_overlaps_nolock((uintptr_t)addr, page_end(addr, len)) == 0)
		return next_munmap ? next_munmap(addr, len)
				   : (int)pk__syscall(SYS_munmap, addr, len);
	pk__lock_take();
	rc = next_munmap ? next_munmap(addr, len)
			 : (int)pk__syscall(SYS_munmap, addr, len);
	if (rc == 0)
		pk__reg_unmapped((uintptr_t)addr, page_end(addr, len));
	pk__lock_drop();
	return rc;
}

#ifdef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP_FLAG MREMAP_DONTUNMAP
#else
#define MREMAP_DONTUNMAP_FLAG 0
#endif

PK_API void *mremap(void *old, size_t oldlen, size_t newlen, int flags, ...)
{
	struct pk__extents before;
	struct pk__persists persists = {0};
	void *want = NULL, *p;
	int settle, err;
	va_list ap;

	NEXT(mremap_fn, mremap);
	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
#define CALL_MREMAP()                                                      \
	(next_mremap ? next_mremap(old, oldlen, newlen, flags, want)       \
		     : (void *)pk__syscall(SYS_mremap, old, oldlen, newlen, flags, \
				       want))
	if (pk__reg_empty() ||
	    (!__atomic_load_n(&pk__reg_persist_n, __ATOMIC_RELAXED) &&
	     /* oldlen 0 duplicates newlen bytes of old (below) */
	     pk__reg_overlaps_nolock((uintptr_t)old,
				     page_end(old, oldlen ? oldlen : newlen)) == 0 &&
	     (!(flags & MREMAP_FIXED) ||
	      pk__reg_overlaps_nolock((uintptr_t)want, page_end(want, newlen)) == 0)))
		return CALL_MREMAP();
	pk__lock_take();
	/*
	 * A fixed move of anything but one whole mapping, or a failed one,
	 * is settled from the kernel's account (interpose/remap.c).
	 */
	settle = (flags & MREMAP_FIXED) && oldlen &&
		 !(flags & MREMAP_DONTUNMAP_FLAG) &&
		 pk__extents_read(&before, (uintptr_t)old,
				  page_end(old, oldlen)) == 0;
	p = CALL_MREMAP();
	err = errno;
	if (settle && (p == MAP_FAILED || !pk__extents_whole(&before))) {
		pk__persists_read(&persists, (uintptr_t)want, page_end(want, newlen));
		pk__remap_settle(&before, (uintptr_t)want,
				 page_end(want, newlen) - (uintptr_t)want);
	} else if (p != MAP_FAILED) {
		size_t page = pk__page_size();
		int keep_old = 0;
#ifdef MREMAP_DONTUNMAP
		/* The old mapping stays, with its key, when asked to. */
		keep_old = (flags & MREMAP_DONTUNMAP) != 0;
#endif
		/*
		 * oldlen 0 duplicates a shared mapping: newlen bytes from
		 * old, with their keys and protections, and old stays.
		 */
		if (oldlen == 0) {
			oldlen = newlen;
			keep_old = 1;
		}
		pk__persists_read(&persists, (uintptr_t)p, page_end(p, newlen));
		pk__reg_move((uintptr_t)old, (oldlen + page - 1) & ~(page - 1),
			     (uintptr_t)p, (newlen + page - 1) & ~(page - 1),
			     keep_old);
	}
	if (persists.n && pk__backend_peek())
		pk__persists_apply(pk__backend_peek(), &persists);
	pk__lock_drop();
	errno = err;
	return p;
#undef CALL_MREMAP
}

static int call_mprotect(mprotect_fn fn, void *addr, size_t len, int prot)
{
	return fn ? fn(addr, len, prot) : (int)pk__sys_mprotect(addr, len, prot);
}

PK_API int mprotect(void *addr, size_t len, int prot)
{
	const struct pk__backend *b = pk__backend_peek();
	int rc;

	NEXT(mprotect_fn, mprotect);
	if (!b || !b->narrows || pk__reg_empty() ||
	    pk__reg_overlaps_nolock((uintptr_t)addr, page_end(addr, len)) == 0)
		return call_mprotect(next_mprotect, addr, len, prot);
	/* Pages without a key need nothing but the plain call. */
	pk__lock_take();
	if (!pk__reg_overlaps((uintptr_t)addr, (uintptr_t)addr + len)) {
		rc = call_mprotect(next_mprotect, addr, len, prot);
		pk__lock_drop();
		return rc;
	}
	pk__lock_drop();
	rc = pk__mprotect(addr, len, prot, -1, 0);
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}
