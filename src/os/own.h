/* SPDX-License-Identifier: MIT */
/* The memory the library itself runs on (os/own.c). */
#ifndef PK_OS_OWN_H
#define PK_OS_OWN_H

#include <stddef.h>
#include <stdint.h>

/*
 * Page-aligned [start, end) spans: the library's own code and data
 * (when it is a shared object, not part of the program), libc's, the
 * dynamic loader's, the vDSO and the kernel's data pages beside it.
 * A range the program keys leaves them out: keyed, they would stop the
 * library (the emulation closes pages with mprotect; on hardware its
 * data would fault).  pk__own_find reads the loader's list once; call
 * it before the library's lock is first taken (it takes the loader's).
 */
struct pk__span {
	uintptr_t start, end;
};

void pk__own_find(void);

/*
 * Whether another copy of the library serves the program: the global
 * definition of the public API (what the program's calls reach) lies in
 * another object, e.g. a copy loaded with dlopen(RTLD_LOCAL) while a
 * preloaded or linked one is global.  Its file name goes to other.
 */
int pk__other_copy(char *other, size_t len);
/*
 * The spans found (none before pk__own_find), in no order.  The first
 * call after pk__own_find reads /proc/self/maps for the vDSO's data
 * pages: the library's lock held.
 */
int pk__own_spans(const struct pk__span **spans);

#endif
