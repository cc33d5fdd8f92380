/* SPDX-License-Identifier: MIT */
/*
 * <pkeys/freebsd.h>: FreeBSD's protection key calls on Linux.
 *
 * Code written for FreeBSD's x86_pkru_* functions of <machine/sysarch.h>
 * builds against this header unchanged (link with -lpkeys) and runs with
 * hardware keys where the machine has them and the emulation elsewhere.
 * The names are macros for pkeys_x86_pkru_*, with FreeBSD's signatures,
 * argument rules and -1/errno conventions.
 *
 * FreeBSD has no key allocator: a program picks key indexes 0..15.  Here
 * each index 1..15 is bound, at the first call that needs it, to a key
 * of the library's own (pk_key_alloc), which belongs to this layer from
 * then on.  Keys that other code allocated are never shared: index 3 is
 * not library key 3.  pk_freebsd_key tells which key an index is bound
 * to, for pk_key_of and pk_fault_decode.  Index 0 is the default key.
 * Details and the differences from FreeBSD: pkeys_freebsd(3).
 */
#ifndef PKEYS_FREEBSD_H
#define PKEYS_FREEBSD_H

#include <pkeys.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FreeBSD's values (<machine/sysarch.h>). */
#define AMD64_PKRU_EXCL 0x0001
#define AMD64_PKRU_PERSIST 0x0002

/*
 * The calling thread's permissions for keyidx: *access non-zero when
 * reads are allowed, *modify non-zero when writes are (as far as the
 * access permission lets them).  An index not bound yet has both.
 */
PK_API int pkeys_x86_pkru_get_perm(unsigned int keyidx, int *access,
				   int *modify);

/* Set the calling thread's permissions for keyidx (binding it). */
PK_API int pkeys_x86_pkru_set_perm(unsigned int keyidx, int access,
				   int modify);

/*
 * Assign keyidx to the pages the range touches (the start truncated to
 * its page, the end rounded up), each keeping its protection; flags
 * AMD64_PKRU_EXCL, AMD64_PKRU_PERSIST.  No authority check (FreeBSD has
 * none).
 */
PK_API int pkeys_x86_pkru_protect_range(void *addr, unsigned long len,
					unsigned int keyidx, int flags);

/* Back to key 0, every assignment in the range forgotten. */
PK_API int pkeys_x86_pkru_unprotect_range(void *addr, unsigned long len);

/*
 * The library key keyidx is bound to: 0 for index 0 and for an index no
 * call has bound yet, -EINVAL for an index above 15.
 */
PK_API int pk_freebsd_key(unsigned int keyidx);

#ifdef __cplusplus
}
#endif

#define x86_pkru_get_perm pkeys_x86_pkru_get_perm
#define x86_pkru_set_perm pkeys_x86_pkru_set_perm
#define x86_pkru_protect_range pkeys_x86_pkru_protect_range
#define x86_pkru_unprotect_range pkeys_x86_pkru_unprotect_range

#endif /* PKEYS_FREEBSD_H */
