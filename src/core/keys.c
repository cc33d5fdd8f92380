/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "core/keys.h"

struct pk__key pk__keys[PK__KEYS];

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

	memset(k->name, 0, sizeof(k->name));
	__atomic_store_n(&k->init_rights, (uint8_t)rights, __ATOMIC_RELAXED);
	__atomic_store_n(&k->allocated, 1, __ATOMIC_RELEASE);
}

void pk__key_gone(int key)
{
	struct pk__key *k = &pk__keys[key];

	__atomic_store_n(&k->allocated, 0, __ATOMIC_RELEASE);
	memset(k->name, 0, sizeof(k->name));
}
