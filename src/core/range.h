/* SPDX-License-Identifier: MIT */
/* One key assignment, a node of the registry (core/registry.h). */
#ifndef PK_CORE_RANGE_H
#define PK_CORE_RANGE_H

#include <stdint.h>

#define PK__REG_LEVELS 12
#define PK__R_MAPPED 0x1u
#define PK__R_PERSIST 0x2u

struct pk__range {
	uintptr_t start, end;
	int key;
	int prot;
	unsigned char flags;
	unsigned char level;
	struct pk__range *kprev, *knext; /* ranges with the same key */
	struct pk__range *next[PK__REG_LEVELS];
};

#endif
