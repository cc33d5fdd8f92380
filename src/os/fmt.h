/* SPDX-License-Identifier: MIT */
/*
 * Text built without stdio or malloc (os/fmt.c): fault reports are
 * written from a SIGSEGV handler, which may have interrupted stdio.
 */
#ifndef PK_OS_FMT_H
#define PK_OS_FMT_H

#include <stddef.h>

/*
 * buf holds len bytes; need counts every byte asked for, so that the
 * caller can tell the length the whole text needs.  The text written
 * stays null-terminated when len > 0.
 */
struct pk__fmt {
	char *buf;
	size_t len, need;
};

void pk__fmt_put(struct pk__fmt *f, const char *s);
/* v in base 10, or 16 with "0x" before it. */
void pk__fmt_num(struct pk__fmt *f, unsigned long v, int base);

#endif
