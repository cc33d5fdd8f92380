/* SPDX-License-Identifier: MIT */
/*
 * What Linux puts in a key fault's siginfo, read the same way with any
 * C library: older headers, and musl's, lack si_pkey and SEGV_PKUERR.
 */
#ifndef PK_OS_SIGINFO_H
#define PK_OS_SIGINFO_H

#include <signal.h>
#include <string.h>

/* si_code of a fault a protection key stopped. */
#define PK__SEGV_PKUERR 4

/*
 * The key of a PK__SEGV_PKUERR fault: si_pkey, at this offset of
 * siginfo_t on 64-bit Linux (after si_addr and the padded si_addr_lsb).
 */
static inline int pk__si_pkey(const siginfo_t *info)
{
	int key;

	memcpy(&key, (const char *)info + 0x20, sizeof(key));
	return key;
}

/* Make info a key fault of key, as the kernel reports one. */
static inline void pk__si_set_pkey(siginfo_t *info, int key)
{
	info->si_code = PK__SEGV_PKUERR;
	memcpy((char *)info + 0x20, &key, sizeof(key));
}

#endif
