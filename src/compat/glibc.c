/* SPDX-License-Identifier: MIT */
/*
 * glibc's protection key calls on the library (include/pkeys/glibc.h).
 * libpkeys_preload.so (preload.c) gives the same functions glibc's own
 * names, for programs that were built against glibc.
 *
 * Keys are the library's, limited to 1..15: glibc's keys on x86 are the
 * numbers its rights register names, and programs may rely on that
 * (glibc's pkey_set refuses anything above 15).  Other threads start
 * with a new key access-disabled, as on Linux, where only the caller's
 * register gets the rights pkey_alloc is given.
 *
 * pkey_free of a key that pages still carry: Linux frees the number and
 * leaves the pages with it, so the next pkey_alloc hands the old pages'
 * protection to a new owner.  The library refuses (-EBUSY), which glibc
 * programs do not expect.  So such a key is "retired": freed as far as
 * the program can tell (pkey_mprotect with it is EINVAL), still held in
 * the library, and released for real by a later pkey_alloc once no page
 * carries it.  The pages stay protected meanwhile, as on Linux.
 */
#include <errno.h>

#include <pkeys/glibc.h>

#include "core/errors.h"

#define GLIBC_KEYS 16

/* Bit k: key k was retired by pkey_free and is still held. */
static unsigned retired;

/*
 * The one place where the library's -errno becomes glibc's -1 and errno:
 * first one of the errors pkeys_glibc(3) lists for the call (an error
 * the library's call may return but glibc's may not is mapped, in
 * core/errors.c), then "no backend can work" (-EOPNOTSUPP) is glibc's
 * ENOSYS: the system does not implement protection keys.
 */
static int glibc_result(enum pk__call call, int rc)
{
	rc = pk__api_err(call, rc);
	if (rc >= 0)
		return rc;
	errno = rc == -EOPNOTSUPP ? ENOSYS : -rc;
	return -1;
}

static int glibc_key(int key)
{
	return key >= 0 && key < GLIBC_KEYS;
}

static int is_retired(int key)
{
	return key > 0 && key < GLIBC_KEYS &&
	       (__atomic_load_n(&retired, __ATOMIC_ACQUIRE) >> key & 1u);
}

/* Release the retired keys no page carries any more. */
static void reap(void)
{
	unsigned r = __atomic_load_n(&retired, __ATOMIC_ACQUIRE);

	for (int k = 1; k < GLIBC_KEYS; k++) {
		unsigned bit = 1u << k;

		if (!(r & bit))
			continue;
		/* Whoever clears the bit frees the key: once. */
		if (!(__atomic_fetch_and(&retired, ~bit, __ATOMIC_ACQ_REL) & bit))
			continue;
		if (pk_key_free(k) != 0)
			__atomic_fetch_or(&retired, bit, __ATOMIC_RELEASE);
	}
}

int pkeys_pkey_alloc(unsigned int flags, unsigned int access_rights)
{
	int key, rc;

	if (flags || (access_rights & ~(unsigned)(PKEY_DISABLE_ACCESS |
						  PKEY_DISABLE_WRITE)))
		return glibc_result(PK__CALL_GLIBC_ALLOC, -EINVAL);
	reap();
	key = pk_key_alloc(0, PK_DISABLE_ACCESS);
	if (key < 0)
		return glibc_result(PK__CALL_GLIBC_ALLOC, key);
	if (key >= GLIBC_KEYS) {
		/* Keys 1..15 are all taken (by this layer or other code). */
		pk_key_free(key);
		return glibc_result(PK__CALL_GLIBC_ALLOC, -ENOSPC);
	}
	rc = pk_set(key, access_rights);
	if (rc) {
		pk_key_free(key);
		return glibc_result(PK__CALL_GLIBC_ALLOC, rc);
	}
	return key;
}

int pkeys_pkey_free(int key)
{
	int rc;

	if (!glibc_key(key) || is_retired(key))
		return glibc_result(PK__CALL_GLIBC_FREE, -EINVAL);
	rc = pk_key_free(key);
	if (rc == -EBUSY) {
		__atomic_fetch_or(&retired, 1u << key, __ATOMIC_RELEASE);
		rc = 0;
	}
	return glibc_result(PK__CALL_GLIBC_FREE, rc);
}

int pkeys_pkey_mprotect(void *addr, size_t len, int prot, int key)
{
	if (key >= GLIBC_KEYS || is_retired(key))
		return glibc_result(PK__CALL_GLIBC_MPROTECT, -EINVAL);
	return glibc_result(PK__CALL_GLIBC_MPROTECT,
			    pk_mprotect(addr, len, prot, key));
}

int pkeys_pkey_set(int key, unsigned int access_rights)
{
	if (!glibc_key(key))
		return glibc_result(PK__CALL_GLIBC_SET, -EINVAL);
	return glibc_result(PK__CALL_GLIBC_SET, pk_set(key, access_rights));
}

int pkeys_pkey_get(int key)
{
	if (!glibc_key(key))
		return glibc_result(PK__CALL_GLIBC_SET, -EINVAL);
	return glibc_result(PK__CALL_GLIBC_SET, pk_get(key));
}
