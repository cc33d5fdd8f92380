/* SPDX-License-Identifier: MIT */
/*
 * AIX's vm_protect_kkey on the library (include/pkeys/aix.h): a kernel
 * service there, a user-space call on the calling process's pages here.
 * It is pk_protect_range without flags of its own; AIX's four failures
 * are the library's -EINVAL, -ERANGE, -EFAULT and -EPERM.
 */
#include <errno.h>

#include <pkeys/aix.h>

#include "core/errors.h"

/*
 * The one place where the library's -errno becomes AIX's result.  Other
 * failures keep their -errno: AIX has no code for them, and a distinct
 * value says more than folding them into one of the four.  Those are
 * the ones pkeys_aix(3) lists; core/errors.c maps the rest.
 */
static kerrno_t aix_result(int rc)
{
	rc = pk__api_err(PK__CALL_AIX, rc);
	switch (rc) {
	case -EINVAL:
		return PK_AIX_EINVAL;
	case -ERANGE:
		return PK_AIX_EINVAL_PPAGE;
	case -EFAULT:
		return PK_AIX_EFAULT;
	case -EPERM:
		return PK_AIX_EPERM;
	default:
		return rc;
	}
}

kerrno_t pkeys_vm_protect_kkey(void *eaddr, size_t nbytes, kkey_t kkey,
			       unsigned long flags)
{
	if (flags & ~VMPK_NO_CHECK_AUTHORITY)
		return aix_result(-EINVAL);
	/* No backend: keys cannot be set in this environment at all. */
	if (pk_init())
		return aix_result(-EINVAL);
	return aix_result(pk_protect_range(
		eaddr, nbytes, kkey,
		flags & VMPK_NO_CHECK_AUTHORITY ? PK_NO_CHECK_AUTHORITY : 0));
}
