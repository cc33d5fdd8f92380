/* SPDX-License-Identifier: MIT */
#ifndef PK_CORE_CHANGE_H
#define PK_CORE_CHANGE_H

#include <stdint.h>

#include "backend/backend.h"

/*
 * One all-or-nothing change (core/change.c) over [start,end), the lock held.
 * key >= 0 gives the pages that key (with FORGET: key 0 and no
 * assignment left); key -1 keeps each page's key.  PROT sets every
 * page's protection to prot, otherwise each keeps its own.  Returns 0,
 * or -errno with every page and the registry as before.
 */
#define PK__C_PROT 0x01	       /* set the protection to prot */
#define PK__C_FORGET 0x02      /* remove assignments (key must be 0) */
#define PK__C_PERSIST 0x04     /* record the assignment as persistent */
#define PK__C_EXCL 0x08	       /* -EBUSY if anything is assigned */
#define PK__C_AUTHORITY 0x10   /* -EPERM unless write rights on old keys */
#define PK__C_UNMAPPED_OK 0x20 /* unmapped parts are not -ENOMEM */

struct pk__change {
	uintptr_t start, end;
	int prot, key;
	unsigned flags;
};
int pk__change(const struct pk__backend *b, const struct pk__change *c);

/*
 * A new mapping [start,end), made PROT_NONE, replaced what was there:
 * open it with prot, persistent assignments' pages with their key.
 * the lock held.  On failure the caller unmaps it.
 */
int pk__map_new(const struct pk__backend *b, uintptr_t start, uintptr_t end,
		int prot);

#endif
