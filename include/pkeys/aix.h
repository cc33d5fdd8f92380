/* SPDX-License-Identifier: MIT */
/*
 * <pkeys/aix.h>: the semantics of AIX's vm_protect_kkey kernel service,
 * as a user-space call on Linux.
 *
 * vm_protect_kkey(eaddr, nbytes, kkey, flags) gives whole pages of the
 * calling process a key, keeping their protection.  kkey is a key from
 * pk_key_alloc (AIX's kernel keys become the library's keys), or 0 for
 * the default key.  Unless flags has VMPK_NO_CHECK_AUTHORITY, the calling
 * thread must hold write rights (pk_set(key, 0)) for every key the pages
 * carry now.  The name is a macro for pkeys_vm_protect_kkey.
 *
 * Results: 0, one of the four codes AIX documents (each distinct, none
 * equal to a negative errno value), or, for a failure AIX has no code
 * for, the negative errno value (-ENOMEM: part of the range is not
 * mapped, or no memory; -EACCES).  Unlike the kernel service, a failing
 * call never changes any page.  Differences: pkeys_aix(3).
 */
#ifndef PKEYS_AIX_H
#define PKEYS_AIX_H

#include <stddef.h>

#include <pkeys.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef int kkey_t;	/* a pkeys key */
typedef long kerrno_t;	/* 0, a PK_AIX_* code, or a negative errno */

/* Skip the authority check (write rights on the keys there now). */
#define VMPK_NO_CHECK_AUTHORITY 0x1UL

/* Invalid parameter (flags, key) or environment (no backend works). */
#define PK_AIX_EINVAL (-0x10001L)
/* eaddr or nbytes is not a multiple of the page size. */
#define PK_AIX_EINVAL_PPAGE (-0x10002L)
/* The range is not inside user space (or wraps around). */
#define PK_AIX_EFAULT (-0x10003L)
/* The authority check failed. */
#define PK_AIX_EPERM (-0x10004L)

/* AIX's names for them. */
#define EINVAL_VM_PROTECT_KKEY PK_AIX_EINVAL
#define EINVAL_VM_PROTECT_KKEY_PPAGE PK_AIX_EINVAL_PPAGE
#define EFAULT_VM_PROTECT_KKEY PK_AIX_EFAULT
#define EPERM_VM_PROTECT_KKEY PK_AIX_EPERM

PK_API kerrno_t pkeys_vm_protect_kkey(void *eaddr, size_t nbytes,
				      kkey_t kkey, unsigned long flags);

#ifdef __cplusplus
}
#endif

#define vm_protect_kkey pkeys_vm_protect_kkey

#endif /* PKEYS_AIX_H */
