/* SPDX-License-Identifier: MIT */
/*
 * pk_heap: a heap for secrets (keys, tokens, passwords) whose blocks all
 * live in pages carrying one protection key.
 *
 * Closing access to every secret of a heap is one call for the calling
 * thread, pk_set(key, PK_DISABLE_ACCESS); opening it is pk_set(key, 0)
 * (or PK_DISABLE_WRITE to read only).  On key hardware that is one
 * register write; on the emulation one mprotect(2), because the heap's
 * memory is one contiguous reservation.
 *
 * The allocator's metadata (size classes, slot bitmaps, block sizes)
 * lives outside the keyed pages: a stray write into the secrets cannot
 * corrupt it, and pk_heap_alloc and pk_heap_free need no access window.
 * The calls that must write into the keyed pages (free zeroes the block,
 * calloc zeroes it, realloc copies, canaries are written and checked)
 * open the key for the calling thread themselves and restore the
 * thread's rights before returning.
 *
 * Conventions as in <pkeys.h>: 0 or a value on success, a negative errno
 * on failure; a failing call changes nothing.  Every function is
 * thread-safe (one lock per heap).  Bad input (a pointer the heap does
 * not own, a double free, a damaged canary, destroying a heap with live
 * blocks) is reported: one line through options.report, or on stderr.
 */
#ifndef PKEYS_HEAP_H
#define PKEYS_HEAP_H

#include <stddef.h>
#include <sys/types.h>

#include <pkeys.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque heap. */
struct pk_heap;

/*
 * Options for pk_heap_create (flags).  Guard pages and canaries are on
 * unless the flags turn them off:
 *   PK_HEAP_GUARD_PAGES  (default) an inaccessible page (no key) just
 *                        before and just after the heap, so a linear
 *                        overrun off either end faults even while the
 *                        key is open.  PK_HEAP_NO_GUARD_PAGES: none.
 *   PK_HEAP_CANARIES     (default) 16 bytes after every block, checked
 *                        when it is freed or reallocated: an overflow
 *                        past the end of a block is reported
 *                        (-EOVERFLOW).  Costs 16 bytes per block, and on
 *                        the emulation an allocation that starts a new
 *                        page of blocks opens the key to write the
 *                        canaries.  PK_HEAP_NO_CANARIES: none.
 *   PK_HEAP_MLOCK        lock the heap's pages in memory (mlock2(2),
 *                        MLOCK_ONFAULT: each page is locked when first
 *                        used).  The reservation counts against
 *                        RLIMIT_MEMLOCK at creation, unless the process
 *                        has CAP_IPC_LOCK.  When the limit allows less,
 *                        the heap locks its first pages (it fills from
 *                        the bottom) up to the limit, reports how many
 *                        bytes it locked of how many, and says so in
 *                        pk_heap_usage's locked.
 *   PK_HEAP_MLOCK_STRICT with PK_HEAP_MLOCK: lock the whole reservation
 *                        or fail (-EPERM, reported with both figures).
 *   PK_HEAP_ABORT        abort() after reporting bad input, as glibc's
 *                        malloc does, instead of returning the error.
 * A flag together with its NO_ form is -EINVAL.  Every heap's pages are
 * excluded from core dumps (MADV_DONTDUMP).  pk_heap_usage's flags give
 * what is in force (defaults included, NO_ forms left out).
 */
#define PK_HEAP_MLOCK 0x1u
#define PK_HEAP_GUARD_PAGES 0x2u
#define PK_HEAP_CANARIES 0x4u
#define PK_HEAP_ABORT 0x8u
#define PK_HEAP_NO_GUARD_PAGES 0x10u
#define PK_HEAP_NO_CANARIES 0x20u
#define PK_HEAP_MLOCK_STRICT 0x40u

struct pk_heap_options {
	/*
	 * Address space to reserve, in bytes (rounded up to pages); 0 means
	 * PK_HEAP_DEFAULT_RESERVE.  Only pages that hold blocks use memory;
	 * allocations fail with -ENOMEM once the reservation is full.
	 */
	size_t reserve;
	unsigned flags;
	/*
	 * Where reports go: one line, without a newline, starting with
	 * "pk_heap: ".  NULL writes them to stderr.  Called without the
	 * heap's lock, in the thread that made the bad call; it must not
	 * call into the heap that reports.
	 */
	void (*report)(void *arg, const char *msg);
	void *report_arg;
	/* Must be 0 (-EINVAL otherwise): room for later options. */
	void *spare[4];
};

#define PK_HEAP_DEFAULT_RESERVE ((size_t)16 << 20)

/*
 * Create a heap whose pages carry key, an allocated key (pk_key_alloc);
 * the heap does not own it.  options may be NULL for the defaults.
 * Stores the heap in *heap.  Returns 0, or:
 *   -EINVAL  heap NULL; key 0 or not allocated; unknown flags; a flag
 *            with its NO_ form; PK_HEAP_MLOCK_STRICT without
 *            PK_HEAP_MLOCK; reserve of 2^32 - 1 pages or more;
 *   -ENOMEM  the reservation or the metadata could not be mapped;
 *   -EPERM   PK_HEAP_MLOCK_STRICT and RLIMIT_MEMLOCK is below the
 *            reservation (reported, with both figures);
 *   -EAGAIN  PK_HEAP_MLOCK and the kernel could not lock the range;
 *   errors of pk_mmap.
 */
PK_API int pk_heap_create(int key, const struct pk_heap_options *options,
			  struct pk_heap **heap);

/*
 * Destroy a heap: its memory is unmapped, after the live blocks (if
 * any) are wiped; the key stays allocated.  With live blocks it refuses
 * (-EBUSY, reported) unless flags has PK_HEAP_DESTROY_LIVE.  Returns 0,
 * -EINVAL (heap NULL, unknown flags), -EBUSY, or the error of pk_set
 * when the key could not be opened to wipe live blocks.  No other call
 * on the heap may run during or after it.
 */
#define PK_HEAP_DESTROY_LIVE 0x1u
PK_API int pk_heap_destroy(struct pk_heap *heap, unsigned flags);

/*
 * Allocate size bytes (16-byte aligned; blocks above 2048 bytes are
 * page aligned) and store the address in *out.  The memory reads as
 * zero: the heap hands out only memory it never used or wiped when it
 * was freed, and does not touch it here, so no access window is needed
 * (with PK_HEAP_CANARIES, a large block or a new page of blocks opens
 * the key, to write canaries).
 * Returns 0, -EINVAL (heap or out NULL, size 0), -ENOMEM (the
 * reservation is full), or the error of pk_set.
 */
PK_API int pk_heap_alloc(struct pk_heap *heap, size_t size, void **out);

/*
 * Allocate n * size bytes, and write the zeros (so they are there even
 * if a stray write reached free memory): opens the key for the calling
 * thread during the call.  Returns as pk_heap_alloc, and -EOVERFLOW
 * when n * size overflows.
 */
PK_API int pk_heap_calloc(struct pk_heap *heap, size_t n, size_t size,
			  void **out);

/*
 * Resize the block at *p to size bytes.  When the block's size class
 * does not change it stays where it is; otherwise the contents move to
 * a new block (min(old usable size, size) bytes copied), the old block
 * is wiped and freed, and *p is updated.  *p NULL allocates.  On error
 * *p and the block are unchanged.  Returns 0, or:
 *   -EINVAL     heap or p NULL, size 0, or *p is not a block of this
 *               heap (reported);
 *   -EALREADY   *p is a block of this heap that is free (reported);
 *   -EOVERFLOW  PK_HEAP_CANARIES: the canary after the block is
 *               damaged (reported); the block stays as it is;
 *   -ENOMEM     no room for the new block; errors of pk_set.
 */
PK_API int pk_heap_realloc(struct pk_heap *heap, void **p, size_t size);

/*
 * Free a block: its bytes are wiped (zeroed) before it can be reused.
 * Opens the key for the calling thread during the call when the thread
 * may not write it (on the emulation: two mprotect calls; free many
 * blocks inside one access window to pay them once).  p NULL does
 * nothing.  Returns 0, or:
 *   -EINVAL     heap NULL, or p is not a block of this heap: outside
 *               its memory, not at the start of a block, or in pages
 *               it does not use (reported);
 *   -EALREADY   p is a block of this heap that is already free: a
 *               double free, recognised until the memory is reused
 *               (reported);
 *   -EOVERFLOW  PK_HEAP_CANARIES: the canary after the block is
 *               damaged (reported); the block is freed anyway and the
 *               canary and the free blocks after it are restored;
 *   errors of pk_set, with the block still allocated.
 */
PK_API int pk_heap_free(struct pk_heap *heap, void *p);

/*
 * The usable size of the block at p (at least what was asked for), or
 * -EINVAL / -EALREADY as pk_heap_free would return, without a report.
 */
PK_API ssize_t pk_heap_usable_size(struct pk_heap *heap, const void *p);

struct pk_heap_usage {
	size_t blocks;	  /* live blocks */
	size_t bytes;	  /* their usable bytes */
	size_t pages;	  /* pages holding blocks, or kept for a size class */
	size_t committed; /* bytes up to the highest page in use */
	size_t reserved;  /* bytes of the reservation */
	size_t metadata;  /* bytes of metadata, outside the keyed pages */
	void *base;	  /* where the heap's keyed memory starts */
	int key;
	unsigned flags;	  /* in force: defaults included */
	size_t locked;	  /* bytes PK_HEAP_MLOCK locked (0 without it) */
	size_t spare[3];  /* zeroed: room for later fields */
};

/* Fill *out.  Returns 0, or -EINVAL when heap or out is NULL. */
PK_API int pk_heap_usage(struct pk_heap *heap, struct pk_heap_usage *out);

#ifdef __cplusplus
}
#endif
#endif /* PKEYS_HEAP_H */
