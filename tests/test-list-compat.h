/* SPDX-License-Identifier: MIT */
/*
 * The seed systems' interfaces (include/pkeys/glibc.h, freebsd.h, aix.h):
 * tests in tests/test_compat.c.  The unmodified glibc program and
 * `pkeys run` are checked by tests/compat/check.sh.
 */
T(compat_glibc_basic, 10)
T(compat_glibc_errors, 10)
T(compat_glibc_exhaustion, 20)
T(compat_glibc_free_busy, 20)
T(compat_glibc_threads, 20)
T(compat_glibc_names, 10)
T(compat_freebsd_perm, 10)
T(compat_freebsd_range, 10)
T(compat_freebsd_persist, 10)
T(compat_freebsd_errors, 10)
T(compat_freebsd_threads, 20)
T(compat_freebsd_exhaustion, 60)
T(compat_freebsd_fork, 240)
T(compat_aix_basic, 10)
T(compat_aix_errors, 10)
T(compat_no_backend, 20)
T(compat_glibc_loose_numbers, 10)
