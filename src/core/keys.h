/* SPDX-License-Identifier: MIT */
/*
 * The key table: one record per library key, holding everything the
 * core knows of it.  (What a backend knows, such as the hardware key a
 * virtual key holds, stays in the backend; the pages a key covers are
 * in the registry.)  Writes happen under the lock; the fields read
 * without it (rights calls, signal handlers) are single words accessed
 * atomically.
 */
#ifndef PK_CORE_KEYS_H
#define PK_CORE_KEYS_H

#include <stdint.h>

#include "core/rights.h"
#include "core/seal.h"

#define PK__NAME_MAX 32

struct pk__key {
	uint8_t allocated;   /* allocated through the library, not freed */
	uint8_t init_rights; /* held by every thread without rights of its own */
	char name[PK__NAME_MAX]; /* read without the lock: writes keep a NUL */
};

/* Sealed (core/seal.h): pk__keys_open before writing.  Lock held. */
extern union pk__keys_block {
	struct pk__key keys[PK__KEYS];
	char pad[PK__SEAL_SIZE(struct pk__key[PK__KEYS])];
} pk__keys_block;
#define pk__keys (pk__keys_block.keys)
void pk__keys_open(void);
/*
 * What pk_key_free is doing, in one word read at once: the low half is
 * the key it is deciding on (0: none; frees take the lock, so one at a
 * time): domain entry backs off.  The high half counts the keys freed
 * so far, raised in the same store that clears the low half: a
 * lock-free reader that found a key's state, then counted itself its
 * user and saw no free deciding, checks that no free completed since
 * (it may have read the key's state before one).  One word, not one per
 * key, so that entry reads it once whatever the domain's size.  Not
 * sealed: a forged value only makes domain entry wait, and the table's
 * opening would widen the window in which the two calls collide.
 */
extern uint64_t pk__key_frees;
#define PK__FREES_KEY(w) ((int)(uint32_t)(w))
#define PK__FREES_DONE(w) ((w) & ~(uint64_t)UINT32_MAX) /* key part 0 */

static inline int pk__key_allocated(int key)
{
	return key > 0 && key < PK__KEYS &&
	       __atomic_load_n(&pk__keys[key].allocated, __ATOMIC_ACQUIRE);
}

static inline unsigned pk__key_init_rights(int key)
{
	return __atomic_load_n(&pk__keys[key].init_rights, __ATOMIC_RELAXED);
}

/* Keys not allocated, 1..PK__KEYS-1: what a backend can still give. */
int pk__keys_unallocated(void);
/* A new key: allocated, with these initial rights, unnamed.  Lock held. */
void pk__key_new(int key, unsigned rights);
/* The key is freed: its number's next key starts afresh.  Lock held. */
void pk__key_gone(int key);

#endif
