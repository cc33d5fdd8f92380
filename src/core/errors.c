/* SPDX-License-Identifier: MIT */
/*
 * Every public call returns only the errors its man page lists.  The
 * layers below return whatever the kernel said: open(2), read(2) or
 * ioctl(2) of /proc/self/maps and /proc/self/task, mprotect(2) and
 * pkey_mprotect(2), mmap(2).  Most of those errors are listed, because
 * they can happen and say something useful (ENOMEM, EACCES, EMFILE...).
 * The rest are mapped here, the same way for every call:
 *
 *   - a shortage of file descriptors or kernel buffers (EMFILE, ENFILE,
 *     ENOBUFS) becomes ENOMEM where the call does not list it: it is a
 *     shortage of resources, which is what ENOMEM says;
 *   - anything else becomes the call's fallback, nearly always EIO: "an
 *     internal step failed in a way this page does not list", which the
 *     pages document.  It is also what reading /proc/self/maps returns
 *     itself for a line it cannot parse, and what read(2) may return.
 *
 * The compat layers pass their result through here too, with the error
 * sets of their pages, before converting it to -1 and errno or AIX codes.
 *
 * A call that fails changes nothing either way; the mapping only picks
 * the number.
 */
#include <errno.h>

#include "core/errors.h"

#define MAX_LISTED 16

struct rule {
	short listed[MAX_LISTED]; /* the man page's errors; 0 ends the list */
	short fallback;		  /* for an error not listed */
};

/* Reading /proc, where a call lists it (see pk_mprotect(3)). */
#define PROC_ERRORS ENOENT, EMFILE, ENFILE

static const struct rule rules[PK__CALL_N] = {
	/* The hardware backend's probe or init failing means it cannot work. */
	[PK__CALL_INIT] = {{EINVAL, EOPNOTSUPP}, EOPNOTSUPP},
	/*
	 * A new key's rights reach every thread through /proc/self/task and
	 * a signal round (hardware).
	 */
	[PK__CALL_KEY_ALLOC] = {{EINVAL, ENOSPC, ENOMEM, EAGAIN, EOPNOTSUPP,
				 PROC_ERRORS, EIO}, EIO},
	/* Only argument checks can fail: no fallback is ever needed. */
	[PK__CALL_KEY_FREE] = {{EINVAL, EBUSY, EOPNOTSUPP}, EBUSY},
	/*
	 * Emulation (or an evicted key on hardware): one mprotect per range
	 * of the key; the kernel's ENOMEM and EACCES are listed.
	 */
	[PK__CALL_SET] = {{EINVAL, ENOMEM, EACCES, EOPNOTSUPP, EIO}, EIO},
	[PK__CALL_SET_ALL] = {{EINVAL, EAGAIN, ENOMEM, EACCES, EOPNOTSUPP,
			       PROC_ERRORS, EIO}, EIO},
	[PK__CALL_DOMAIN] = {{EINVAL, EBUSY, ENOMEM, EACCES, EIO}, EIO},
	/*
	 * Reading /proc/self/maps, then one protection call per piece.
	 * EINVAL also comes from the kernel for a range that would split
	 * a huge page, EPERM for sealed memory (mseal(2)).
	 */
	[PK__CALL_MPROTECT] = {{EINVAL, ENOMEM, EACCES, EPERM, EOPNOTSUPP,
				PROC_ERRORS, EIO}, EIO},
	/*
	 * The interposed mprotect(2) answers with mprotect(2)'s errors:
	 * failing to read /proc is the library lacking a resource, and
	 * ENOMEM covers "internal kernel structures could not be allocated".
	 */
	[PK__CALL_SYS_MPROTECT] = {{EINVAL, ENOMEM, EACCES, EPERM}, ENOMEM},
	[PK__CALL_PROTECT_RANGE] = {{EINVAL, ERANGE, EFAULT, ENOMEM, EBUSY,
				     EPERM, EACCES, EOPNOTSUPP, PROC_ERRORS,
				     EIO}, EIO},
	/* Nothing is exclusive here, so never EBUSY. */
	[PK__CALL_UNPROTECT_RANGE] = {{EINVAL, ERANGE, EFAULT, ENOMEM, EPERM,
				       EACCES, EOPNOTSUPP, PROC_ERRORS, EIO},
				      EIO},
	/*
	 * mmap(2)'s errors for an anonymous mapping (no file: never EBADF,
	 * ETXTBSY), then mprotect(2)'s or pkey_mprotect(2)'s.
	 */
	[PK__CALL_MMAP] = {{EINVAL, ENOMEM, EACCES, EAGAIN, EEXIST, ENFILE,
			    ENODEV, EOVERFLOW, EPERM, EOPNOTSUPP, EIO}, EIO},
	/* munmap(2): EINVAL, ENOMEM (the mapping limit), EPERM (sealed). */
	[PK__CALL_MUNMAP] = {{EINVAL, ENOMEM, EPERM}, EINVAL},
	/* sigaction(2), which cannot fail for SIGSEGV; EFAULT is pk_try's. */
	[PK__CALL_SIGNALS] = {{EINVAL, EFAULT}, EINVAL},
	[PK__CALL_SIGALTSTACK] = {{EOPNOTSUPP, EINVAL, EFAULT, ENOMEM, EPERM},
				  EINVAL},
	/*
	 * pk_mmap's errors, and madvise(2) and mlock2(2) on the reservation
	 * (whose errors are among them: EINVAL, ENOMEM, EPERM, EAGAIN).
	 */
	[PK__CALL_HEAP_CREATE] = {{EINVAL, ENOMEM, EACCES, EAGAIN, EEXIST,
				   ENFILE, ENODEV, EOVERFLOW, EPERM,
				   EOPNOTSUPP, EIO}, EIO},
	/*
	 * glibc's callers know glibc's errors (EINVAL, ENOSPC, ENOSYS, here
	 * EOPNOTSUPP until converted) and those of mprotect(2).  The layer
	 * adds few: a key that could not be set up for every thread, or
	 * mappings that could not be read, is a shortage (ENOMEM); a
	 * refused reprotection in pkey_set is the kernel refusing (EACCES).
	 */
	[PK__CALL_GLIBC_ALLOC] = {{EINVAL, ENOSPC, ENOMEM, EAGAIN, EOPNOTSUPP},
				  ENOMEM},
	[PK__CALL_GLIBC_FREE] = {{EINVAL, EOPNOTSUPP}, EINVAL},
	[PK__CALL_GLIBC_MPROTECT] = {{EINVAL, ENOMEM, EACCES, EPERM,
				      EOPNOTSUPP}, ENOMEM},
	[PK__CALL_GLIBC_SET] = {{EINVAL, ENOMEM, EACCES, EOPNOTSUPP}, EACCES},
	/*
	 * FreeBSD's errors and the layer's own (EAGAIN, EACCES), as
	 * pkeys_freebsd(3) lists them.  ENOSPC passes: the layer itself
	 * converts it to ENOMEM.
	 */
	[PK__CALL_FREEBSD_PERM] = {{EOPNOTSUPP, EINVAL, ENOMEM, ENOSPC, EAGAIN,
				    EACCES}, ENOMEM},
	[PK__CALL_FREEBSD_RANGE] = {{EOPNOTSUPP, EINVAL, EFAULT, EBUSY, ENOMEM,
				     ENOSPC, EAGAIN, EACCES}, ENOMEM},
	/* AIX's four codes, and the -errno values pkeys_aix(3) lists. */
	[PK__CALL_AIX] = {{EINVAL, ERANGE, EFAULT, EPERM, ENOMEM, EACCES},
			  ENOMEM},
};

static int listed(const struct rule *r, int err)
{
	for (int i = 0; i < MAX_LISTED && r->listed[i]; i++)
		if (r->listed[i] == err)
			return 1;
	return 0;
}

int pk__api_map(enum pk__call call, int rc)
{
	const struct rule *r = &rules[call];
	int err = -rc;

	if (listed(r, err))
		return rc;
	if ((err == EMFILE || err == ENFILE || err == ENOBUFS) &&
	    listed(r, ENOMEM))
		return -ENOMEM;
	return -r->fallback;
}
