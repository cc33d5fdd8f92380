/* SPDX-License-Identifier: MIT */
/*
 * <pkeys/glibc.h>: glibc's protection key calls, on every Linux machine.
 *
 * Code written for glibc's pkey_alloc, pkey_free, pkey_mprotect,
 * pkey_set and pkey_get builds against this header unchanged (include it
 * instead of, or after, <sys/mman.h>; link with -lpkeys) and runs with
 * hardware keys where the machine has them and the emulation elsewhere.
 *
 * The names are macros for pkeys_pkey_*, which have glibc's signatures
 * and conventions (-1 and errno on failure): linking the library never
 * replaces glibc's own pkey_* symbols.  To run a program already built
 * against glibc's calls, without rebuilding it, use `pkeys run`
 * (pkeys(1)).  Errors and the differences from glibc: pkeys_glibc(3).
 *
 * Keys are 1..15, as glibc's are (the key numbers x86's rights register
 * names), also on the emulation, which has more keys for pk_key_alloc.
 */
#ifndef PKEYS_GLIBC_H
#define PKEYS_GLIBC_H

/*
 * glibc's own declarations come first, so that the macros below rename
 * only the program's calls, and <sys/mman.h> included later changes
 * nothing.
 */
#include <stddef.h>
#include <sys/mman.h>

#include <pkeys.h>

#ifdef __cplusplus
extern "C" {
#endif

/* As glibc defines them (<bits/mman-shared.h>), equal to PK_DISABLE_*. */
#ifndef PKEY_DISABLE_ACCESS
#define PKEY_DISABLE_ACCESS 0x1
#endif
#ifndef PKEY_DISABLE_WRITE
#define PKEY_DISABLE_WRITE 0x2
#endif

/*
 * A key (1..15, the lowest free) with access_rights for the calling
 * thread; other threads start with it access-disabled.  -1 and errno: EINVAL flags not 0 or
 * unknown rights (or PKEYS_BACKEND holds an unknown value), ENOSPC no
 * key left, ENOMEM, ENOSYS no backend can work (PKEYS_BACKEND=hw on a
 * machine without usable hardware keys).
 */
PK_API int pkeys_pkey_alloc(unsigned int flags, unsigned int access_rights);

/*
 * Release a key.  -1 and errno EINVAL when key is not an allocated key.
 * A key still carried by pages is released (0) and its number is free,
 * as on Linux: the next pkey_alloc that returns it hands those pages to
 * the new owner.
 */
PK_API int pkeys_pkey_free(int key);

/*
 * mprotect(2) that also gives the pages key; -1 keeps each page's key.
 * -1 and errno: EINVAL key neither -1, 0 nor allocated, or an argument
 * mprotect refuses; ENOMEM unmapped pages; EACCES; ENOSYS no backend
 * can work and key is not -1 or 0.
 */
PK_API int pkeys_pkey_mprotect(void *addr, size_t len, int prot, int key);

/*
 * The calling thread's rights for key (1..15, allocated or not, as the
 * register has bits for each): 0, or -1 and errno EINVAL (key outside
 * 0..15, unknown rights, rights other than 0 for key 0).
 */
PK_API int pkeys_pkey_set(int key, unsigned int access_rights);

/* The calling thread's rights for key (0..15), or -1 and errno EINVAL. */
PK_API int pkeys_pkey_get(int key);

#ifdef __cplusplus
}
#endif

#define pkey_alloc pkeys_pkey_alloc
#define pkey_free pkeys_pkey_free
#define pkey_mprotect pkeys_pkey_mprotect
#define pkey_set pkeys_pkey_set
#define pkey_get pkeys_pkey_get

#endif /* PKEYS_GLIBC_H */
