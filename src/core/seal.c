/* SPDX-License-Identifier: MIT */
/*
 * Opening and sealing the library's state (core/seal.h says what and
 * why).  mprotect(2) rather than a reserved protection key: it works on
 * every backend, costs none of the hardware's few keys, and its price (two system calls per
 * call that changes state; none on the paths that only read or only
 * switch rights) falls on calls that already make system calls.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/seal.h"
#include "os/page.h"
#include "os/sys.h"

/* More than the blocks a call opens (key table, bindings, arena). */
#define OPEN_MAX 8

/* Under the lock. */
static struct {
	uintptr_t start;
	size_t len;
} open_now[OPEN_MAX];
static int open_n;

static int protect(uintptr_t start, size_t len, int prot)
{
	size_t page = pk__page_size();

	len = (len + page - 1) & ~(page - 1);
	return (int)pk__syscall(SYS_mprotect, start, len, prot);
}

/* Whether a block can be sealed: alone on its pages (not so where the
 * page size is above PK__SEAL_ALIGN; it then stays writable). */
static int sealable(uintptr_t start, size_t len)
{
	return len && !(start & (pk__page_size() - 1));
}

static int is_open(uintptr_t start)
{
	for (int i = 0; i < open_n; i++)
		if (open_now[i].start == start)
			return 1;
	return 0;
}

void pk__seal_open(const void *start, size_t len)
{
	uintptr_t s = (uintptr_t)start;

	if (!sealable(s, len) || is_open(s))
		return;
	if (open_n == OPEN_MAX || protect(s, len, PROT_READ | PROT_WRITE))
		abort();
	open_now[open_n].start = s;
	open_now[open_n].len = len;
	open_n++;
}

/*
 * A block that cannot be sealed (the kernel out of memory to split the
 * mapping) stays writable: the library keeps working, unprotected.
 */
void pk__seal_close(void)
{
	for (int i = 0; i < open_n; i++)
		protect(open_now[i].start, open_now[i].len, PROT_READ);
	open_n = 0;
}

/* The linker's bounds of the blocks' list. */
extern const struct pk__seal_block __start_pk_seal_set[]
	__attribute__((weak, visibility("hidden")));
extern const struct pk__seal_block __stop_pk_seal_set[]
	__attribute__((weak, visibility("hidden")));

void pk__seal_init(void)
{
	for (const struct pk__seal_block *b = __start_pk_seal_set;
	     b && b < __stop_pk_seal_set; b++)
		if (sealable((uintptr_t)b->start, b->len) &&
		    !is_open((uintptr_t)b->start))
			protect((uintptr_t)b->start, b->len, PROT_READ);
}
