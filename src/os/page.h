/* SPDX-License-Identifier: MIT */
/* The page size, read once: every range check and rounding uses it. */
#ifndef PK_OS_PAGE_H
#define PK_OS_PAGE_H

#include <stddef.h>

#include <stdint.h>

/* Never 0; a power of two.  Async-signal-safe after the first call. */
size_t pk__page_size(void);
/* The first address past user space (x86: less its top page), as the
 * running kernel sets it: asked once, with one raw mmap(2). */
uintptr_t pk__user_end(void);

#endif
