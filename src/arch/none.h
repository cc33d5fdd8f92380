/* SPDX-License-Identifier: MIT */
/*
 * A CPU family this build has no primitives for: no hardware keys (the
 * emulation works everywhere), faults decoded without the access kind.
 */
#ifndef PK_ARCH_NONE_H
#define PK_ARCH_NONE_H

#include <stddef.h>
#include <stdint.h>

#define PK__ARCH_KEYS 0
/* The largest page size of the CPUs Linux runs on (arch/arch.h). */
#define PK__ARCH_PAGE_MAX 65536
#define PK__ARCH_FAULT_INFO 0

static inline void pk__arch_features(int *cpu, int *os)
{
	*cpu = *os = 0;
}

static inline int pk__arch_feature_trap(void)
{
	return 0;
}

static inline int pk__arch_fault_info(const void *uc, int *access, void **ip)
{
	(void)uc;
	(void)access;
	(void)ip;
	return 0;
}

/* 47 bits: what 64-bit Linux gives user space on most CPUs by default. */
static inline void pk__arch_user_ends(size_t page, uintptr_t *narrow,
				      uintptr_t *wide)
{
	*narrow = *wide = sizeof(void *) == 8
				  ? (uintptr_t)((uint64_t)1 << 47) - page
				  : (uintptr_t)0 - page;
}

#endif
