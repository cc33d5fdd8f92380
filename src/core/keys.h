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
	char name[PK__NAME_MAX]; /* read without the lock: writes keep a NUL */
};

/*
 * The initial rights of every key, held by every thread without rights
 * of its own, are kept apart from the table, in the library's arena,
 * and not sealed: pk_set_all writes them on every call, and opening and
 * resealing the table costs two mprotect(2) calls that change pages in
 * use (a call took 17-23 microseconds with them, 4.1-5.4 without, on the
 * emulation here: bench_threads).  They are rights like the thread
 * records' beside them, which are not sealed either (SECURITY.md).  The
 * pointer to them is sealed, in the table.
 */
struct pk__keys_table {
	struct pk__key keys[PK__KEYS];
	/*
	 * One byte per key.  A constant table of zeros from the
	 * backend's choice (nothing reads it before) until the first key
	 * (pk__keys_ready), then fresh zeroed memory from the arena: no
	 * reader can see a stale byte through either, so it is read
	 * without ordering.
	 */
	uint8_t *init;
};

/* Sealed (core/seal.h): pk__keys_open before writing.  Lock held. */
extern union pk__keys_block {
	struct pk__keys_table t;
	char pad[PK__SEAL_SIZE(struct pk__keys_table)];
} pk__keys_block;
#define pk__keys (pk__keys_block.t.keys)
void pk__keys_open(void);
/* Before sealing, at the backend's choice: initial rights all 0. */
void pk__keys_init(void);
/* The initial rights' memory exists: 0, or -ENOMEM.  Lock held. */
int pk__keys_ready(void);
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
	const uint8_t *init =
		__atomic_load_n(&pk__keys_block.t.init, __ATOMIC_RELAXED);

	return __atomic_load_n(&init[key], __ATOMIC_RELAXED);
}

/* Every thread without rights of its own holds these.  Lock held. */
static inline void pk__key_set_init_rights(int key, unsigned rights)
{
	__atomic_store_n(&pk__keys_block.t.init[key], (uint8_t)rights,
			 __ATOMIC_RELAXED);
}

/* Keys not allocated, 1..PK__KEYS-1: what a backend can still give. */
int pk__keys_unallocated(void);
/*
 * A new key: allocated, with these initial rights, unnamed.  Lock held,
 * after pk__keys_ready.
 */
void pk__key_new(int key, unsigned rights);
/* The key is freed: its number's next key starts afresh.  Lock held. */
void pk__key_gone(int key);

#endif
