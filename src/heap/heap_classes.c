/* SPDX-License-Identifier: MIT */
/* pk_heap's size classes: the slot sizes of its slabs. */
#include <stdint.h>

#include "heap_internal.h"

/* Sizes are multiples of 16, so every slot is 16-byte aligned. */
const uint16_t pk__heap_class_size[NCLASS] = {
	16,  32,  48,  64,  80,  96,  112, 128, 160,  192,  224,
	256, 320, 384, 448, 512, 640, 768, 896, 1024, 1360, 2048,
};
uint8_t pk__heap_class_of[MAX_SMALL / 16 + 1];

void pk__heap_classes_init(void)
{
	unsigned c = 0;

	for (unsigned i = 1; i <= MAX_SMALL / 16; i++) {
		while (pk__heap_class_size[c] < i * 16)
			c++;
		pk__heap_class_of[i] = (uint8_t)c;
	}
}
