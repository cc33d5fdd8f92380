/* SPDX-License-Identifier: MIT */
/*
 * Sealed state (core/seal.c): the tables that say which keys exist,
 * with which names and where their initial rights are kept (core/keys.h;
 * the rights themselves are not sealed: SECURITY.md), which hardware key
 * each key holds (backend/hw_fast.h), and where the library's arena
 * lies (core/arena.c) are read-only outside the calls that change
 * them, so that a stray write from the program (an overflow, a wild
 * pointer) faults instead of forging them.
 *
 * A sealed block is a static object alone on its pages (PK__SEALED,
 * padded to PK__SEAL_SIZE, listed with PK__SEAL_BLOCK).  Readers need
 * nothing: the pages stay readable, also for lock-free readers and
 * signal handlers.  A writer holds the lock and calls pk__seal_open on
 * the block before its first write; pk__lock_drop seals again every
 * block opened under it.  A write without pk__seal_open faults inside
 * the library: the suite and the fuzzer run every path with sealing on.
 *
 * Only tables written by calls that are rare, or make system calls of
 * their own anyway, are sealed: opening and sealing costs two
 * mprotect(2) calls.  What stays writable, and why (the registry: every
 * range call writes it, and sealing it costs time that grows with its
 * size; thread records: pk_set writes them without a system call):
 * SECURITY.md.
 */
#ifndef PK_CORE_SEAL_H
#define PK_CORE_SEAL_H

#include <stddef.h>

#include "arch/arch.h"

/*
 * A sealed block starts and ends on a boundary of the CPU's largest
 * page size, whatever page size the kernel runs with.
 */
#define PK__SEAL_ALIGN PK__ARCH_PAGE_MAX
#define PK__SEAL_SIZE(type) \
	((sizeof(type) + PK__SEAL_ALIGN - 1) / PK__SEAL_ALIGN * PK__SEAL_ALIGN)
#define PK__SEALED __attribute__((aligned(PK__SEAL_ALIGN)))

/*
 * Every sealed static names itself with PK__SEAL_BLOCK(object), so that
 * pk__seal_init seals all of them when the library starts, written or
 * not (a block a backend never uses must not stay writable either).
 */
struct pk__seal_block {
	void *start;
	size_t len;
};
#define PK__SEAL_BLOCK(object)                                             \
	static const struct pk__seal_block pk__seal_block_##object         \
		__attribute__((section("pk_seal_set"), used)) = {           \
			&(object), sizeof(object)                           \
	}

/*
 * Make [start, start + len) writable until the lock is dropped; start
 * page-aligned.  Opening an open block does nothing.
 * Lock held.  Aborts if the kernel refuses (it would only refuse for
 * lack of memory to split a mapping, and opening merges mappings).
 */
void pk__seal_open(const void *start, size_t len);
/* Seal every block opened since the last call.  Lock held. */
void pk__seal_close(void);
/* Seal every static block not open now.  Lock held; once, at start. */
void pk__seal_init(void);

#endif
