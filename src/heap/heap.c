/* SPDX-License-Identifier: MIT */
/*
 * pk_heap: an allocator whose blocks all live in one reservation of
 * pages carrying the heap's key, and whose metadata lives elsewhere.
 *
 * Layout.  The reservation is one pk_mmap: one range in the library's
 * registry, so on the emulation a change of rights is one mprotect.  It
 * is cut into pages.  A page is free, a slab (equal slots of one size
 * class, 16 to 2048 bytes), or part of a large block (whole pages).  The
 * pages in use sit below `top`; free pages below it are in a bitmap, and
 * freeing pages at the top lowers it, so the heap stays compact.
 *
 * Metadata, in one separate mapping: per page a descriptor (16 bytes)
 * and a slot bitmap (one bit per 16 bytes of page: 32 bytes per 4 KiB
 * page).  A 32-byte secret thus costs 32 bytes of keyed memory and 3/8
 * of a byte of metadata.  The mapping is reserved for the whole heap but
 * only the part describing pages in use is ever touched.
 *
 * Zero invariant.  Every byte of the reservation outside live blocks and
 * canaries is zero: untouched pages are, and free wipes the block before
 * it can be reused.  So allocating never writes into the keyed pages and
 * needs no access window.  Writing (free, calloc, realloc, canaries,
 * destroy) opens the key for the calling thread and restores its rights.
 *
 * Flush sentinel.  Unless the heap has guard pages, the keyed range
 * goes on for HEAP_SENTINEL_GAP + 1 pages past the reservation; its last
 * page may be mapped to the zero page so that closing the key flushes
 * the TLB at once instead of page by page, where that is cheaper
 * (src/heap/heap_flush.c).
 *
 * Files: this one has the API, the reservation and fork; heap_pages.c
 * the pool, slabs, allocating and freeing; heap_check.c reports,
 * canaries and pointer lookup; heap_flush.c the sentinel's measurement.
 *
 * One mutex per heap guards all metadata.  Opening the key may take the
 * library's lock (emulation); the library never calls back into a heap,
 * so that order cannot deadlock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/errors.h"
#include "heap_flush.h"
#include "heap_internal.h"

static pthread_once_t classes_once = PTHREAD_ONCE_INIT;

/* Fork --------------------------------------------------------------- */

/*
 * A thread pk__heap_inside a heap call holds the heap's lock; a child forked
 * then would find it held forever.  So, as malloc does, every heap's
 * lock is taken before fork and dropped on both sides after.  These
 * handlers are registered after the library's own (pk_heap_create has
 * chosen the backend by then), so they run first before fork: heap
 * locks, then the library's lock, the order calls take them in.
 */
static pthread_mutex_t heaps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pk_heap *heaps; /* the newest */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void heaps_prepare(void)
{
	pthread_mutex_lock(&heaps_lock);
	for (struct pk_heap *h = heaps; h; h = h->older)
		pthread_mutex_lock(&h->lock);
}

static void heaps_after(void)
{
	for (struct pk_heap *h = heaps; h; h = h->older)
		pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&heaps_lock);
}

static void fork_register(void)
{
	pthread_atfork(heaps_prepare, heaps_after, heaps_after);
}

static void heaps_link(struct pk_heap *h)
{
	pthread_once(&fork_once, fork_register);
	pthread_mutex_lock(&heaps_lock);
	h->older = heaps;
	if (heaps)
		heaps->newer = h;
	heaps = h;
	pthread_mutex_unlock(&heaps_lock);
}

static void heaps_unlink(struct pk_heap *h)
{
	pthread_mutex_lock(&heaps_lock);
	if (h->newer)
		h->newer->older = h->older;
	else
		heaps = h->older;
	if (h->older)
		h->older->newer = h->newer;
	pthread_mutex_unlock(&heaps_lock);
}

/* API ---------------------------------------------------------------- */

/* RLIMIT_MEMLOCK as text, and in bytes (SIZE_MAX: unlimited). */
static size_t lock_limit(char *text, size_t len)
{
	struct rlimit rl;

	snprintf(text, len, "unlimited");
	if (getrlimit(RLIMIT_MEMLOCK, &rl) || rl.rlim_cur == RLIM_INFINITY)
		return SIZE_MAX;
	snprintf(text, len, "%llu bytes", (unsigned long long)rl.rlim_cur);
	return (size_t)rl.rlim_cur;
}

/* Bytes the process has locked already (VmLck), 0 when unknown. */
static size_t locked_now(void)
{
	char buf[4096];
	const char *at;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	at = strstr(buf, "\nVmLck:");
	return at ? (size_t)strtoull(at + 8, NULL, 10) * 1024 : 0;
}

/*
 * PK_HEAP_MLOCK: lock the reservation; when RLIMIT_MEMLOCK leaves less
 * room, lock as much of its start as it does (blocks fill from the
 * bottom) and report it, or fail under PK_HEAP_MLOCK_STRICT.
 */
static int lock_pages(struct pk_heap *h)
{
	size_t len = h->npages << h->shift, limit, room, locked;
	struct msg m = {0};
	char lim[32];
	int err;

	if (mlock2(h->base, len, MLOCK_ONFAULT) == 0) {
		h->locked = len;
		return 0;
	}
	err = errno;
	if (err != EPERM && err != ENOMEM)
		return -err;
	limit = lock_limit(lim, sizeof(lim));
	if (h->flags & PK_HEAP_MLOCK_STRICT) {
		pk__heap_note(&m,
			      "PK_HEAP_MLOCK_STRICT: cannot lock the heap's %zu "
			      "bytes: RLIMIT_MEMLOCK is %s (ulimit -l, in KiB); "
			      "raise it, or reserve less (options.reserve)",
			      len, lim);
		pk__heap_deliver(h, &m, 0);
		return -EPERM;
	}
	locked = limit == SIZE_MAX ? 0 : locked_now();
	room = limit == SIZE_MAX ? len : limit - (locked < limit ? locked : limit);
	room = (room < len ? room : len) & ~(h->page - 1);
	/* Others may lock meanwhile: halve until the kernel agrees. */
	while (room && mlock2(h->base, room, MLOCK_ONFAULT))
		room = (room / 2) & ~(h->page - 1);
	h->locked = room;
	pk__heap_note(&m,
		      "PK_HEAP_MLOCK: RLIMIT_MEMLOCK is %s (ulimit -l, in KiB): "
		      "locked the first %zu of the heap's %zu bytes; the rest "
		      "may be swapped out (raise the limit, reserve less, or "
		      "pass PK_HEAP_MLOCK_STRICT to fail instead)",
		      lim, room, len);
	pk__heap_deliver(h, &m, 0);
	return 0;
}

static void fill_secret(uint64_t s[2])
{
	struct timespec ts;

	if (getrandom(s, 2 * sizeof(s[0]), GRND_NONBLOCK) ==
	    (ssize_t)(2 * sizeof(s[0])))
		return;
	/* No entropy yet (early boot): still differs per heap and run. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uintptr_t)s;
	s[1] = ((uint64_t)ts.tv_sec << 32 | (uint64_t)getpid()) ^ s[0] << 7;
}

/* Map the reservation: guard pages first (no key), keyed pages pk__heap_inside.
 */
static int map_heap(struct pk_heap *h)
{
	size_t guard = (h->flags & PK_HEAP_GUARD_PAGES) ? h->page : 0;
	size_t len = h->npages << h->shift;
	void *p = NULL;
	int rc;

	/*
	 * The sentinel must change protection with the blocks, so the keyed
	 * pages between them would be open with the key: it would undo the
	 * trailing guard page.  Guarded heaps go without it.
	 */
	h->sentinel = guard ? -1 : 0;
	if (!guard)
		len += (HEAP_SENTINEL_GAP + 1) << h->shift;

	/*
	 * Reserved first where no other key's persistent assignment lies
	 * (a pk_mmap placed by the kernel could take part of one), then
	 * keyed in place.
	 */
	h->map_len = len + 2 * guard;
	h->map = pk__map_own(h->map_len, PROT_NONE, MAP_NORESERVE);
	if (h->map == MAP_FAILED)
		return -ENOMEM;
	p = h->map + guard;
	rc = pk_mmap(&p, len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_NORESERVE | MAP_FIXED, h->key);
	if (rc) {
		munmap(h->map, h->map_len);
		return rc;
	}
	h->base = p;
	/*
	 * No transparent huge pages: a first write would make a whole huge
	 * page resident (2 MiB on x86, 16 MiB on POWER with 64 KiB pages),
	 * the sentinel page with it, where the heap means to use memory a
	 * page at a time.  Best effort: kernels without THP say EINVAL.
	 */
	(void)madvise(h->base, len, MADV_NOHUGEPAGE);
	/* Secrets stay out of core dumps. */
	if (madvise(h->base, len, MADV_DONTDUMP))
		rc = -errno;
	else if (h->flags & PK_HEAP_MLOCK)
		rc = lock_pages(h);
	if (rc)
		pk_munmap(h->map, h->map_len);
	return rc;
}

static int heap_create(int key, const struct pk_heap_options *options,
		       struct pk_heap **heap)
{
	struct pk_heap_options o = {0};
	size_t page = (size_t)sysconf(_SC_PAGESIZE), npages, words, len;
	struct pk_heap *h;
	char *meta;
	int rc;

	if (options)
		o = *options;
	for (size_t i = 0; i < sizeof(o.spare) / sizeof(o.spare[0]); i++)
		if (o.spare[i])
			return -EINVAL;
	if (!heap || key <= 0 || pk_get(key) < 0 || (o.flags & ~KNOWN_FLAGS) ||
	    page < 4096 || (page & (page - 1)))
		return -EINVAL;
	/* Guard pages and canaries unless turned off; not both ways. */
	if (((o.flags & PK_HEAP_GUARD_PAGES) &&
	     (o.flags & PK_HEAP_NO_GUARD_PAGES)) ||
	    ((o.flags & PK_HEAP_CANARIES) && (o.flags & PK_HEAP_NO_CANARIES)) ||
	    ((o.flags & PK_HEAP_MLOCK_STRICT) && !(o.flags & PK_HEAP_MLOCK)))
		return -EINVAL;
	if (!(o.flags & PK_HEAP_NO_GUARD_PAGES))
		o.flags |= PK_HEAP_GUARD_PAGES;
	if (!(o.flags & PK_HEAP_NO_CANARIES))
		o.flags |= PK_HEAP_CANARIES;
	o.flags &= ~(PK_HEAP_NO_GUARD_PAGES | PK_HEAP_NO_CANARIES);
	if (o.reserve == 0)
		o.reserve = PK_HEAP_DEFAULT_RESERVE;
	npages = o.reserve / page + (o.reserve % page != 0);
	if (npages >= NONE)
		return -EINVAL;
	pthread_once(&classes_once, pk__heap_classes_init);

	/* The struct, the pool bitmap, the descriptors, the slot bitmaps. */
	words = page / 16 / 64;
	len = sizeof(*h) + (npages + 63) / 64 * 8 +
	      npages * (sizeof(struct page) + words * 8);
	meta = pk__map_own(len, PROT_READ | PROT_WRITE, MAP_NORESERVE);
	if (meta == MAP_FAILED)
		return -ENOMEM;
	h = (struct pk_heap *)meta;
	h->key = key;
	h->flags = o.flags;
	h->npages = npages;
	h->page = page;
	h->shift = (unsigned)__builtin_ctzll(page);
	h->words = (unsigned)words;
	h->meta_len = len;
	h->pool = (uint64_t *)(meta + sizeof(*h));
	h->pages = (struct page *)(h->pool + (npages + 63) / 64);
	h->slots = (uint64_t *)(h->pages + npages);
	h->report = o.report;
	h->report_arg = o.report_arg;
	for (unsigned c = 0; c < NCLASS; c++) {
		h->partial[c] = NONE;
		h->slot[c] =
			(uint16_t)(pk__heap_class_size[c] +
				   (o.flags & PK_HEAP_CANARIES ? CANARY : 0));
		h->nslots[c] = (uint16_t)(page / h->slot[c]);
	}
	fill_secret(h->secret);
	if ((rc = -pthread_mutex_init(&h->lock, NULL)) != 0) {
		munmap(meta, len);
		return rc;
	}
	if ((rc = map_heap(h)) != 0) {
		pthread_mutex_destroy(&h->lock);
		munmap(meta, len);
		return rc;
	}
	heaps_link(h);
	*heap = h;
	return 0;
}

/*
 * The reservation's own system calls (madvise(2), mlock2(2)) answer
 * with errors of their own: mapped with pk_mmap's, in one place
 * (core/errors.c).  The other calls fail only through pk_set, whose
 * errors are mapped already, and their own checks.
 */
int pk_heap_create(int key, const struct pk_heap_options *options,
		   struct pk_heap **heap)
{
	return pk__api_err(PK__CALL_HEAP_CREATE,
			   heap_create(key, options, heap));
}

int pk_heap_destroy(struct pk_heap *h, unsigned flags)
{
	struct msg m = {0};
	int saved = 0, rc = 0;

	if (!h || (flags & ~PK_HEAP_DESTROY_LIVE))
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	if (h->blocks && !(flags & PK_HEAP_DESTROY_LIVE)) {
		pk__heap_note(
			&m,
			"pk_heap_destroy(%p): %zu blocks (%zu bytes) are still "
			"allocated: free them, or pass PK_HEAP_DESTROY_LIVE",
			(void *)h, h->blocks, h->bytes);
		rc = -EBUSY;
	} else if (h->blocks && (rc = pk__heap_open_key(h, &saved)) == 0) {
		/* Live secrets are wiped before their pages go back. */
		for (size_t pg = 0; pg < h->top; pg++)
			if (h->pages[pg].kind >= P_SLAB)
				explicit_bzero(page_addr(h, pg), h->page);
		pk__heap_close_key_locked(h, saved);
	}
	pk__heap_unlock(h);
	if (rc) {
		pk__heap_deliver(h, &m, 1);
		return rc;
	}
	heaps_unlink(h);
	pk_munmap(h->map, h->map_len);
	pthread_mutex_destroy(&h->lock);
	munmap(h, h->meta_len);
	return 0;
}

/*
 * Out-parameters are the caller's memory: touched only outside the
 * heap's lock, so that a fault there (recovered with pk_try or
 * siglongjmp) cannot leave the lock held.  probe_out writes *out's own
 * value back before anything changes, so an unwritable out faults
 * before a block is taken rather than losing it.
 */
static void probe_out(void **out)
{
	void *volatile *v = out;

	*v = *v;
}

int pk_heap_alloc(struct pk_heap *h, size_t size, void **out)
{
	void *p;
	int rc;

	if (!h || !out || size == 0)
		return -EINVAL;
	probe_out(out);
	pthread_mutex_lock(&h->lock);
	rc = pk__heap_alloc_locked(h, size, &p);
	pk__heap_unlock(h);
	if (rc == 0)
		*out = p;
	return rc;
}

int pk_heap_calloc(struct pk_heap *h, size_t n, size_t size, void **out)
{
	size_t total;
	void *p;
	int saved, rc;

	if (!h || !out || n == 0 || size == 0)
		return -EINVAL;
	if (__builtin_mul_overflow(n, size, &total))
		return -EOVERFLOW;
	probe_out(out);
	if ((rc = pk__heap_open_key(h, &saved)) != 0)
		return rc;
	pthread_mutex_lock(&h->lock);
	rc = pk__heap_alloc_locked(h, total, &p);
	pk__heap_unlock(h);
	/* The block is the caller's now: no lock needed to write it. */
	if (rc == 0) {
		memset(p, 0, total);
		*out = p;
	}
	pk__heap_close_key(h, saved);
	return rc;
}

/*
 * A block's shape: its slab class, or NCLASS + its pages when large.
 * size is at most the reservation (the caller checks first), so the
 * page count cannot wrap.
 */
static size_t shape_of(const struct pk_heap *h, size_t size)
{
	size_t extra = (h->flags & PK_HEAP_CANARIES) ? CANARY : 0;

	if (size <= MAX_SMALL)
		return pk__heap_class_of[(size + 15) / 16];
	return NCLASS + ((size + extra + h->page - 1) >> h->shift);
}

static size_t shape_of_block(const struct pk_heap *h, const struct block *b)
{
	return b->large ? NCLASS + h->pages[b->pg].npages : h->pages[b->pg].cls;
}

static int bad_pointer(struct pk_heap *h, const char *call, const void *p,
		       int rc, const char *why)
{
	struct msg m = {0};

	if (rc == -EALREADY)
		pk__heap_note(&m, "%s(%p): block %s", call, p, why);
	else
		pk__heap_note(&m, "%s(%p): not a block of heap %p: %s", call, p,
			      (void *)h, why);
	pk__heap_deliver(h, &m, 1);
	return rc;
}

int pk_heap_free(struct pk_heap *h, void *p)
{
	struct block b;
	struct msg m = {0};
	const char *why = NULL;
	int saved, rc, damaged;

	if (!h)
		return -EINVAL;
	if (!p)
		return 0;
	/* Outside the heap: no need to open the key to say so. */
	if (!pk__heap_inside(h, p))
		return bad_pointer(h, "pk_heap_free", p, -EINVAL,
				   "outside its memory");
	if ((rc = pk__heap_open_key(h, &saved)) != 0)
		return rc;
	pthread_mutex_lock(&h->lock);
	rc = pk__heap_lookup(h, p, &b, &why);
	if (rc == 0) {
		damaged = pk__heap_check_block(h, &b, "pk_heap_free", &m);
		pk__heap_free_locked(h, &b, damaged);
		rc = damaged;
	}
	pk__heap_unlock(h);
	pk__heap_close_key(h, saved);
	if (why)
		return bad_pointer(h, "pk_heap_free", p, rc, why);
	pk__heap_deliver(h, &m, 1);
	return rc;
}

int pk_heap_realloc(struct pk_heap *h, void **p, size_t size)
{
	struct block b;
	struct msg m = {0};
	const char *why = NULL;
	void *q = NULL;
	int saved, rc;

	if (!h || !p || size == 0)
		return -EINVAL;
	if (!*p)
		return pk_heap_alloc(h, size, p);
	if (!pk__heap_inside(h, *p))
		return bad_pointer(h, "pk_heap_realloc", *p, -EINVAL,
				   "outside its memory");
	if ((rc = pk__heap_open_key(h, &saved)) != 0)
		return rc;
	pthread_mutex_lock(&h->lock);
	if ((rc = pk__heap_lookup(h, *p, &b, &why)) == 0 &&
	    (rc = pk__heap_check_block(h, &b, "pk_heap_realloc", &m)) == 0 &&
	    (rc = size > (h->npages << h->shift) ? -ENOMEM : 0) == 0 &&
	    shape_of(h, size) != shape_of_block(h, &b) &&
	    (rc = pk__heap_alloc_locked(h, size, &q)) == 0) {
		memcpy(q, b.addr, size < b.usable ? size : b.usable);
		pk__heap_free_locked(h, &b, 0);
	}
	pk__heap_unlock(h);
	pk__heap_close_key(h, saved);
	if (why)
		return bad_pointer(h, "pk_heap_realloc", *p, rc, why);
	if (rc == -EOVERFLOW)
		pk__heap_deliver(h, &m, 1);
	if (rc == 0 && q)
		*p = q;
	return rc;
}

ssize_t pk_heap_usable_size(struct pk_heap *h, const void *p)
{
	struct block b;
	const char *why;
	int rc;

	if (!h || !p)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	rc = pk__heap_lookup(h, p, &b, &why);
	pk__heap_unlock(h);
	return rc ? rc : (ssize_t)b.usable;
}

int pk_heap_usage(struct pk_heap *h, struct pk_heap_usage *out)
{
	struct pk_heap_usage u;

	if (!h || !out)
		return -EINVAL;
	pthread_mutex_lock(&h->lock);
	u = (struct pk_heap_usage){
		.blocks = h->blocks,
		.bytes = h->bytes,
		.pages = h->used_pages,
		.committed = h->top << h->shift,
		.reserved = h->npages << h->shift,
		.metadata = sizeof(*h) + (h->top + 63) / 64 * 8 +
			    h->top * (sizeof(struct page) + h->words * 8),
		.base = h->base,
		.key = h->key,
		.flags = h->flags,
		.locked = h->locked,
	};
	pk__heap_unlock(h);
	*out = u;
	return 0;
}
