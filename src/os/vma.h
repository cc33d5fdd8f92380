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
/*
 * pk__vma_walk may keep /proc/self/maps open from now on (one
 * descriptor, close-on-exec), once fork's child handler calls
 * pk__vma_forget (which closes it in the child).  Lock held.
 */
void pk__vma_keep_open(void);
void pk__vma_forget(void);
/* The same for the mappings whose line in /proc/self/maps holds tag
 * (a name the kernel gives, such as " [vvar"): a read of the text. */
int pk__vma_named(const char *tag, pk__vma_fn fn, void *ctx);

#endif
