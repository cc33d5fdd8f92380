/* SPDX-License-Identifier: MIT */
/*
 * Limits and rights shared by every layer: how many keys the library
 * names, and what rights mean for a page's protection.
 */
#ifndef PK_CORE_RIGHTS_H
#define PK_CORE_RIGHTS_H

#include <sys/mman.h>

#include "pkeys.h"

/* The library's keys, 0..PK__KEYS-1 (virtual on hardware). */
#define PK__KEYS 1024
/* A thread record's "holds the key's initial rights". */
#define PK__RIGHTS_UNSET 0xffu
#define PK__RIGHTS_MASK (PK_DISABLE_ACCESS | PK_DISABLE_WRITE)
#define PK__PROT_MASK (PROT_READ | PROT_WRITE | PROT_EXEC)

/*
 * prot less what rights forbid (data access only; PROT_EXEC stays).
 * Linux has no write-only pages on the CPUs with keys: a writable page
 * reads too.
 */
static inline int pk__narrow(int prot, unsigned rights)
{
	if (prot & PROT_WRITE)
		prot |= PROT_READ;
	if (rights & PK_DISABLE_ACCESS)
		return prot & ~(PROT_READ | PROT_WRITE);
	if (rights & PK_DISABLE_WRITE)
		return prot & ~PROT_WRITE;
	return prot;
}

/* Whether prot lets an access of kind need (PROT_READ, PROT_WRITE) through. */
static inline int pk__prot_allows(int prot, int need)
{
	if (prot & PROT_WRITE)
		prot |= PROT_READ;
	return (prot & need) != 0;
}

#endif
