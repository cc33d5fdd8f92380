/* SPDX-License-Identifier: MIT */
/*
 * The errors each public call may return, and the one place where an
 * error from below (core, backend, os: reading /proc, a protection
 * system call, a sync round) that the call's man page does not list is
 * turned into one it does (core/errors.c).  The public calls apply it
 * to their results; pk_set's and pk_get's hot paths are tail calls into
 * the backend, so the backends apply it on their slow paths instead.
 */
#ifndef PK_CORE_ERRORS_H
#define PK_CORE_ERRORS_H

/* One per public call whose failures can come from a lower layer. */
enum pk__call {
	PK__CALL_INIT,		/* pk_init, pk_keys_available */
	PK__CALL_KEY_ALLOC,
	PK__CALL_KEY_FREE,
	PK__CALL_SET,		/* pk_set, pk_get */
	PK__CALL_SET_ALL,
	PK__CALL_DOMAIN,	/* pk_domain_enter, pk_domain_leave */
	PK__CALL_MPROTECT,
	PK__CALL_SYS_MPROTECT,	/* the interposed mprotect(2) */
	PK__CALL_PROTECT_RANGE,
	PK__CALL_UNPROTECT_RANGE,
	PK__CALL_MMAP,
	PK__CALL_MUNMAP,
	PK__CALL_SIGNALS,	/* pk_fault_report, _set_handler, pk_try */
	PK__CALL_SIGALTSTACK,
	PK__CALL_HEAP_CREATE,
	PK__CALL_GLIBC_ALLOC,	/* the compat layers, before conversion */
	PK__CALL_GLIBC_FREE,
	PK__CALL_GLIBC_MPROTECT,
	PK__CALL_GLIBC_SET,	/* pkey_set, pkey_get */
	PK__CALL_FREEBSD_PERM,	/* x86_pkru_get_perm, x86_pkru_set_perm */
	PK__CALL_FREEBSD_RANGE,	/* x86_pkru_protect_range, _unprotect_range */
	PK__CALL_AIX,
	PK__CALL_N
};

int pk__api_map(enum pk__call call, int rc);

/*
 * rc unchanged when it is a success (>= 0) or an error call's man page
 * lists; otherwise the listed error that stands for it.  Inline so that
 * a success costs one comparison (pk_set on hardware is a few cycles).
 * Async-signal-safe.
 */
static inline int pk__api_err(enum pk__call call, int rc)
{
	return rc >= 0 ? rc : pk__api_map(call, rc);
}

#endif
