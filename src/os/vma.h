/* SPDX-License-Identifier: MIT */
/* The kernel's mappings of this process (os/vma.c). */
#ifndef PK_OS_VMA_H
#define PK_OS_VMA_H

#include <stdint.h>

/*
 * Call fn for each mapping overlapping [start,end), in order, with its
 * whole extent and protection; stops at fn's first non-zero return and
 * returns it, or -errno if the mappings cannot be read.  No malloc: the
 * callers hold the library's lock and may run inside an mmap interposer.
 */
typedef int (*pk__vma_fn)(void *ctx, uintptr_t start, uintptr_t end,
			  int prot);
int pk__vma_walk(uintptr_t start, uintptr_t end, pk__vma_fn fn, void *ctx);
/* The same for the mappings whose line in /proc/self/maps holds tag
 * (a name the kernel gives, such as " [vvar"): a read of the text. */
int pk__vma_named(const char *tag, pk__vma_fn fn, void *ctx);

#endif
