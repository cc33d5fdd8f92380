/* SPDX-License-Identifier: MIT */
/*
 * The library's own memory: registry nodes, plans, thread records.
 *
 * It comes from one reservation of address space, made once and opened
 * a chunk at a time, for two reasons.  The registry is updated from the
 * munmap/mmap interposers, so its memory cannot come from malloc (an
 * allocator that maps through those functions would re-enter itself).
 * And memory the kernel places wherever it likes could land inside a
 * hole the program keeps under a PERSIST range, where a later change of
 * keys would close the library's own memory; the library knows the one
 * reservation and never treats it as the program's.
 *
 * Its bookkeeping is sealed (core/seal.h): a forged bound would hand
 * out memory twice.  The memory itself is not: registry updates and
 * pk_set write it on every call (SECURITY.md says what that leaves).
 * Inaccessible pages guard it at both ends.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/seal.h"
#include "os/page.h"
#include "os/sys.h"

#define ARENA_BYTES ((size_t)1 << 30)

struct bounds {
	uintptr_t base, used;
};
static union {
	struct bounds b;
	char pad[PK__SEAL_SIZE(struct bounds)];
} bounds PK__SEALED;
PK__SEAL_BLOCK(bounds);
#define B (bounds.b)

void *pk__arena_alloc(size_t bytes)
{
	size_t page = pk__page_size();
	void *p;

	bytes = (bytes + page - 1) & ~(page - 1);
	pk__seal_open(&bounds, sizeof(bounds));
	if (!B.base) {
		p = (void *)pk__syscall(SYS_mmap, NULL, ARENA_BYTES, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				    -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		B.base = (uintptr_t)p;
		/*
		 * The first page stays inaccessible: a linear overflow out of
		 * the mapping below stops there (the unused rest of the
		 * reservation guards the top).
		 */
		B.used = page;
	}
	if (bytes > ARENA_BYTES - B.used)
		return NULL;
	p = (void *)(B.base + B.used);
	if (pk__syscall(SYS_mprotect, p, bytes, PROT_READ | PROT_WRITE))
		return NULL;
	B.used += bytes;
	return p;
}

void pk__arena_bounds(uintptr_t *start, uintptr_t *end)
{
	*start = B.base;
	*end = B.base ? B.base + ARENA_BYTES : 0;
}

/* Scratch space grows, never shrinks. */
void *pk__arena_scratch(size_t bytes)
{
	static void *scratch;
	static size_t have;

	if (bytes > have) {
		void *p = pk__arena_alloc(bytes * 2);
		if (!p)
			return NULL;
		scratch = p;
		have = bytes * 2;
	}
	return scratch;
}
