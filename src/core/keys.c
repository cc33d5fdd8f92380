/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "core/arena.h"
#include "core/keys.h"

union pk__keys_block pk__keys_block PK__SEALED;
PK__SEAL_BLOCK(pk__keys_block);

uint64_t pk__key_frees;

void pk__keys_open(void)
{
	pk__seal_open(&pk__keys_block, sizeof(pk__keys_block));
}

static const uint8_t no_init[PK__KEYS];

void pk__keys_init(void)
{
	pk__keys_block.t.init = (uint8_t *)no_init; /* never written */
}

int pk__keys_ready(void)
{
	uint8_t *init;

	if (pk__keys_block.t.init != no_init)
		return 0;
	init = pk__arena_alloc(PK__KEYS);
	if (!init)
		return -ENOMEM;
	pk__keys_open();
	__atomic_store_n(&pk__keys_block.t.init, init, __ATOMIC_RELAXED);
	return 0;
}

int pk__keys_unallocated(void)
{
	int n = 0;

	for (int k = 1; k < PK__KEYS; k++)
		n += !pk__key_allocated(k);
	return n;
}

void pk__key_new(int key, unsigned rights)
{
	struct pk__key *k = &pk__keys[key];

	pk__keys_open();
	memset(k->name, 0, sizeof(k->name));
	pk__key_set_init_rights(key, rights);
	__atomic_store_n(&k->allocated, 1, __ATOMIC_RELEASE);
}

void pk__key_gone(int key)
{
	struct pk__key *k = &pk__keys[key];

	pk__keys_open();
	__atomic_store_n(&k->allocated, 0, __ATOMIC_RELEASE);
	memset(k->name, 0, sizeof(k->name));
}
