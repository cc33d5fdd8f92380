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
 * leaves the pages with it, so the next pkey_alloc hands the number, and
 * with it the old pages' protection, to a new owner.  The library
 * refuses (-EBUSY), which glibc programs do not expect.  So such a key
 * is "retired": freed as far as the program can tell (pkey_mprotect
 * with it is EINVAL), still held in the library, handed out again by
 * pkey_alloc as Linux would (lowest number first), and released for
 * real by a later pkey_alloc once no page carries it.
 *
 * pkey_get and pkey_set on a number nobody allocated: on hardware they
 * read and write the register's bits, which exist for every number.
 * The layer keeps those bits per thread (they guard no page: a key that
 * is not allocated is on none), starting as the kernel starts every
 * thread of a new program, access disabled, and keeping what pkey_free
 * leaves in the freeing thread.  (Other threads' bits for a freed
 * number, and a thread's loose bits when the number is allocated again,
 * are not carried over: there the new key's initial rights count.)
 */
#include <errno.h>

#include <pkeys/glibc.h>

#include "compat/rights_insn.h"
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

/*
 * The calling thread's bits for numbers that are not allocated: bit 7
 * set when pkey_set gave one, the rights below it.
 */
static __thread unsigned char loose[GLIBC_KEYS];

/* A retired number below key, taken for the caller; or 0. */
static int take_retired_below(int key)
{
	for (;;) {
		unsigned r = __atomic_load_n(&retired, __ATOMIC_ACQUIRE);
		int k;

		r &= (1u << (key < GLIBC_KEYS ? key : GLIBC_KEYS)) - 1;
		if (!r)
			return 0;
		k = __builtin_ctz(r);
		/* Whoever clears the bit owns the number. */
		if (__atomic_fetch_and(&retired, ~(1u << k), __ATOMIC_ACQ_REL) &
		    (1u << k))
			return k;
	}
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
	if (key < 0 && key != -ENOSPC)
		return glibc_result(PK__CALL_GLIBC_ALLOC, key);
	/*
	 * A number pkey_free released while pages still carry it comes back
	 * first when it is the lowest, with its pages, as on Linux; other
	 * threads keep the rights they had for it.
	 */
	if ((rc = take_retired_below(key > 0 ? key : GLIBC_KEYS)) > 0) {
		if (key > 0)
			pk_key_free(key);
		key = rc;
		if ((rc = pk_set(key, access_rights)) != 0) {
			__atomic_fetch_or(&retired, 1u << key, __ATOMIC_RELEASE);
			return glibc_result(PK__CALL_GLIBC_ALLOC, rc);
		}
		pk__rights_insn_install(pkeys_pkey_get, pkeys_pkey_set);
		return key;
	}
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
	/* The program may go on to read and write the register itself. */
	pk__rights_insn_install(pkeys_pkey_get, pkeys_pkey_set);
	return key;
}

int pkeys_pkey_free(int key)
{
	int rc, rights;

	if (!glibc_key(key) || is_retired(key))
		return glibc_result(PK__CALL_GLIBC_FREE, -EINVAL);
	/* The register keeps the number's bits: this thread's, here. */
	rights = pk_get(key);
	rc = pk_key_free(key);
	if (rc == 0 && rights >= 0)
		loose[key] = (unsigned char)(0x80 | rights);
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
	int rc;

	if (!glibc_key(key))
		return glibc_result(PK__CALL_GLIBC_SET, -EINVAL);
	rc = pk_set(key, access_rights);
	/* A number nobody allocated: its bits, this thread's. */
	if (rc == -EINVAL && key > 0 && pk_init() == 0 &&
	    pk_get(key) == -EINVAL &&
	    !(access_rights & ~(unsigned)(PKEY_DISABLE_ACCESS |
					  PKEY_DISABLE_WRITE))) {
		loose[key] = (unsigned char)(0x80 | access_rights);
		rc = 0;
	}
	return glibc_result(PK__CALL_GLIBC_SET, rc);
}

int pkeys_pkey_get(int key)
{
	int rc;

	if (!glibc_key(key))
		return glibc_result(PK__CALL_GLIBC_SET, -EINVAL);
	rc = pk_get(key);
	if (rc == -EINVAL && key > 0 && pk_init() == 0)
		rc = loose[key] & 0x80 ? loose[key] & 0x7f : PKEY_DISABLE_ACCESS;
	return glibc_result(PK__CALL_GLIBC_SET, rc);
}
