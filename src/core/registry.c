/* SPDX-License-Identifier: MIT */
/*
 * The registry of key assignments: which pages carry which key, with the
 * protection the program asked for and the range's flags.
 *
 * A skip list ordered by address gives O(log n) lookups and updates at
 * any size; every range is also on its key's list, so a change of rights
 * visits only that key's ranges.  Nodes come from the library's arena.
 *
 * Invariants: ranges are whole pages, sorted, disjoint and non-empty;
 * neighbours that touch and have equal key, prot and flags are merged.
 *
 * Lock-free readers (pk__reg_key_of): writers hold the library's lock
 * and make the sequence count odd while they change the list; a reader
 * walks the list without the lock and keeps its answer only if the
 * count was even and unchanged around the walk.  A walk that meets a
 * list being changed may see any node, freed ones included, but never
 * leaves the arena (nodes are never unmapped) and is bounded in steps.
 * So that the race is a defined one, the fields such a walk reads
 * (start, end, key, next) are written with atomic stores, ordered
 * after the odd count (write_begin), and read with atomic loads.
 *
 * Lookups, locked or not, go through the index (core/rindex.h) when it
 * is on: it finds the node without walking the levels.  The levels
 * still serve insertion and the walk while the index is off.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/registry.h"
#include "core/rindex.h"

#define POOL_BYTES (64 * 1024)

static struct pk__range head; /* sentinel: start = end = 0, all levels */
static int levels = 1;
/* Odd while a writer changes the list; see above. */
static unsigned seq;
static int writing;

#define STORE(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELEASE)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/*
 * Around every change of the list; nested calls count once.
 *
 * The odd count is an acquire read-modify-write: a reader's closing
 * read-modify-write (a release, lower_nolock) that comes before it in
 * the count's order then synchronises with it, so the reader's loads
 * happen before every store of this change and cannot see one; a
 * reader's that comes after it reads the odd count or a later one.
 * Either way a reader that saw a store of this change throws its answer
 * away, relaxed stores (the index's) included.  A plain load and store
 * ordered nothing on weakly ordered CPUs: there the change's stores
 * could be seen before the odd count.  (On x86 a locked add, for the
 * writer only.)
 */
static void write_begin(void)
{
	if (writing++ == 0)
		__atomic_fetch_add(&seq, 1, __ATOMIC_ACQUIRE);
}

static void write_end(void)
{
	if (--writing == 0)
		__atomic_store_n(&seq, __atomic_load_n(&seq, __ATOMIC_RELAXED) + 1,
				 __ATOMIC_RELEASE);
}
static struct pk__range *spare;
static size_t spare_n;
static uint64_t seed = 0x9e3779b97f4a7c15ull;
/* Room for the ranges a move carries (pk__reg_move). */
static struct pk__range *scratch;
static size_t scratch_bytes;

size_t pk__reg_n;
size_t pk__reg_persist_n;
struct pk__range *pk__reg_by_key[PK__KEYS];

int pk__reg_reserve(size_t extra)
{
	if (pk__rindex_off()) { /* a failure leaves it off: walks */
		write_begin();
		(void)pk__rindex_build(head.next[0]);
		write_end();
	}
	while (spare_n < extra) {
		struct pk__range *p = pk__arena_alloc(POOL_BYTES);
		if (!p)
			return -ENOMEM;
		for (size_t i = 0; i < POOL_BYTES / sizeof(*p); i++) {
			p[i].next[0] = spare;
			spare = &p[i];
			spare_n++;
		}
	}
	return 0;
}

static struct pk__range *node_new(void)
{
	struct pk__range *r = spare;

	/* Callers reserved room first; this cannot run dry. */
	spare = r->next[0];
	spare_n--;
	/* A stale reader may still look at this node: no memset. */
	for (int i = 0; i < PK__REG_LEVELS; i++)
		STORE(r->next[i], NULL);
	STORE(r->start, 0);
	STORE(r->end, 0);
	STORE(r->key, 0);
	r->prot = 0;
	r->flags = 0;
	r->level = 0;
	r->kprev = r->knext = NULL;
	return r;
}

static void node_free(struct pk__range *r)
{
	STORE(r->next[0], spare);
	spare = r;
	spare_n++;
}

/* Levels with probability 1/4 each: about 1.33 pointers per node. */
static int random_level(void)
{
	int l = 1;

	seed ^= seed << 13;
	seed ^= seed >> 7;
	seed ^= seed << 17;
	for (uint64_t r = seed; l < PK__REG_LEVELS && (r & 3) == 0; r >>= 2)
		l++;
	return l;
}

/* preds[i]: the last node at level i whose start is below addr. */
static void find_preds(uintptr_t addr, struct pk__range **preds)
{
	struct pk__range *x = &head;

	for (int i = levels - 1; i >= 0; i--) {
		while (x->next[i] && x->next[i]->start < addr)
			x = x->next[i];
		preds[i] = x;
	}
	for (int i = levels; i < PK__REG_LEVELS; i++)
		preds[i] = &head;
}

/*
 * Each key's list keeps its ranges in address order as far as that
 * costs nothing: a range goes beside a neighbour in the address order
 * with the same key (a split, a range grown piece by piece), else
 * first or last when it lies before or after all the key's ranges
 * (mappings made one after another, upwards or downwards), else last.
 * The emulation changes a key's pages in this order, and the kernel
 * changes protections a few percent faster going up through the
 * address space than coming down (bench_switch).
 */
static struct pk__range *key_tail[PK__KEYS];

static void key_insert(struct pk__range *r, struct pk__range *prev,
		       struct pk__range *next)
{
	r->kprev = prev;
	r->knext = next;
	if (prev)
		prev->knext = r;
	else
		pk__reg_by_key[r->key] = r;
	if (next)
		next->kprev = r;
	else
		key_tail[r->key] = r;
}

/* r is linked into the address order; pred is the range before it. */
static void key_link(struct pk__range *r, struct pk__range *pred)
{
	struct pk__range *h = pk__reg_by_key[r->key], *succ = r->next[0];

	if (pred != &head && pred->key == r->key)
		key_insert(r, pred, pred->knext);
	else if (succ && succ->key == r->key)
		key_insert(r, succ->kprev, succ);
	else if (h && r->start < h->start)
		key_insert(r, NULL, h);
	else
		key_insert(r, key_tail[r->key], NULL);
}

static void key_unlink(struct pk__range *r)
{
	if (r->kprev)
		r->kprev->knext = r->knext;
	else
		pk__reg_by_key[r->key] = r->knext;
	if (r->knext)
		r->knext->kprev = r->kprev;
	else
		key_tail[r->key] = r->kprev;
}

static void count(const struct pk__range *r, long sign)
{
	__atomic_store_n(&pk__reg_n, pk__reg_n + sign, __ATOMIC_RELAXED);
	if (r->flags & PK__R_PERSIST)
		__atomic_store_n(&pk__reg_persist_n, pk__reg_persist_n + sign,
				 __ATOMIC_RELAXED);
}

static struct pk__range *insert(uintptr_t start, uintptr_t end, int key,
				int prot, unsigned flags)
{
	struct pk__range *preds[PK__REG_LEVELS], *r = node_new();

	STORE(r->start, start);
	STORE(r->end, end);
	STORE(r->key, key);
	r->prot = prot;
	r->flags = flags;
	r->level = random_level();
	find_preds(start, preds);
	if (r->level > levels)
		__atomic_store_n(&levels, r->level, __ATOMIC_RELAXED);
	for (int i = 0; i < r->level; i++) {
		STORE(r->next[i], preds[i]->next[i]);
		STORE(preds[i]->next[i], r);
	}
	pk__rindex_add(r);
	key_link(r, preds[0]);
	count(r, +1);
	return r;
}

static void unlink_node(struct pk__range *r)
{
	struct pk__range *preds[PK__REG_LEVELS];

	find_preds(r->start, preds);
	for (int i = 0; i < r->level; i++)
		if (preds[i]->next[i] == r)
			STORE(preds[i]->next[i], r->next[i]);
	pk__rindex_remove(r);
	key_unlink(r);
	count(r, -1);
	node_free(r);
}

struct pk__range *pk__reg_lower(uintptr_t addr)
{
	struct pk__range *x = &head;

	struct pk__rindex_hit h;

	if (pk__rindex_find(addr, &h) == 0) {
		if (!h.node)
			return head.next[0];
		return h.node->end > addr ? h.node : h.node->next[0];
	}
	for (int i = levels - 1; i >= 0; i--)
		while (x->next[i] && x->next[i]->end <= addr)
			x = x->next[i];
	return x->next[0];
}

const struct pk__range *pk__reg_find(uintptr_t addr)
{
	struct pk__range *r = pk__reg_lower(addr);

	return r && r->start <= addr ? r : NULL;
}

int pk__reg_overlaps(uintptr_t start, uintptr_t end)
{
	struct pk__range *r = pk__reg_lower(start);

	return start < end && r && r->start < end;
}

int pk__reg_persist_in(uintptr_t start, uintptr_t end)
{
	for (struct pk__range *r = pk__reg_lower(start); r && r->start < end;
	     r = r->next[0])
		if (r->flags & PK__R_PERSIST)
			return 1;
	return 0;
}

/* Make addr a boundary: no range starts before it and ends after it. */
static void split_at(uintptr_t addr)
{
	struct pk__range *r = pk__reg_lower(addr);

	if (!r || r->start >= addr)
		return;
	insert(addr, r->end, r->key, r->prot, r->flags);
	STORE(r->end, addr);
	pk__rindex_set_end(r);
}

static int same(const struct pk__range *a, const struct pk__range *b)
{
	return a->end == b->start && a->key == b->key && a->prot == b->prot &&
	       a->flags == b->flags;
}

/* Merge equal neighbours among the ranges touching [start, end]. */
static void merge(uintptr_t start, uintptr_t end)
{
	struct pk__range *r = pk__reg_lower(start ? start - 1 : 0);

	while (r && r->next[0] && r->start <= end) {
		if (same(r, r->next[0])) {
			struct pk__range *n = r->next[0];
			STORE(r->end, n->end);
			pk__rindex_set_end(r);
			unlink_node(n);
		} else {
			r = r->next[0];
		}
	}
}

void pk__reg_assign(uintptr_t start, uintptr_t end, int key, int prot,
		    unsigned flags)
{
	struct pk__range *r;

	write_begin();
	split_at(start);
	split_at(end);
	while ((r = pk__reg_lower(start)) && r->start < end)
		unlink_node(r);
	if (key >= 0)
		insert(start, end, key, prot, flags);
	merge(start, end);
	write_end();
}

void pk__reg_set_prot(uintptr_t start, uintptr_t end, int prot)
{
	write_begin();
	split_at(start);
	split_at(end);
	for (struct pk__range *r = pk__reg_lower(start); r && r->start < end;
	     r = r->next[0])
		if (r->flags & PK__R_MAPPED)
			r->prot = prot;
	merge(start, end);
	write_end();
}

void pk__reg_unmap(uintptr_t start, uintptr_t end)
{
	struct pk__range *r, *next;

	write_begin();
	split_at(start);
	split_at(end);
	for (r = pk__reg_lower(start); r && r->start < end; r = next) {
		next = r->next[0];
		if (r->flags & PK__R_PERSIST) {
			r->flags &= ~PK__R_MAPPED;
			r->prot = 0;
		} else {
			unlink_node(r);
		}
	}
	merge(start, end);
	write_end();
}

void pk__reg_map(uintptr_t start, uintptr_t end, int prot)
{
	write_begin();
	split_at(start);
	split_at(end);
	for (struct pk__range *r = pk__reg_lower(start); r && r->start < end;
	     r = r->next[0]) {
		r->flags |= PK__R_MAPPED;
		r->prot = prot;
	}
	merge(start, end);
	write_end();
}

int pk__reg_key_in_use(int key)
{
	return pk__reg_by_key[key] != NULL;
}

int pk__reg_move(uintptr_t old, size_t oldlen, uintptr_t new_addr,
		 size_t newlen, int keep_old)
{
	size_t kept = oldlen < newlen ? oldlen : newlen, n = 0, bytes, i;
	struct pk__range *r, *moved = NULL, tail = {0};
	const struct pk__range *last;

	/*
	 * The kernel grows a mapping with the flags, key included, of its
	 * last page, so a keyed last page means the new pages are keyed too.
	 */
	last = oldlen ? pk__reg_find(old + oldlen - 1) : NULL;
	if (last && newlen > oldlen && (last->flags & PK__R_MAPPED))
		tail = *last;

	for (r = pk__reg_lower(old); r && r->start < old + kept; r = r->next[0])
		n++;
	if (pk__reg_reserve(3 * n + 12))
		return -ENOMEM;
	bytes = (n ? n : 1) * sizeof(*moved);
	if (bytes > scratch_bytes) {
		void *p = pk__arena_alloc(bytes * 2);
		if (!p)
			return -ENOMEM;
		scratch = p;
		scratch_bytes = bytes * 2;
	}
	moved = scratch;
	n = 0;
	for (r = pk__reg_lower(old); r && r->start < old + kept; r = r->next[0]) {
		if (!(r->flags & PK__R_MAPPED))
			continue;
		moved[n] = *r;
		if (moved[n].start < old)
			moved[n].start = old;
		if (moved[n].end > old + kept)
			moved[n].end = old + kept;
		n++;
	}
	/*
	 * A PERSIST assignment belongs to its address range: it stays where
	 * it is when the mapping moves away (pages moved elsewhere keep the
	 * key as an ordinary assignment), and stays PERSIST in place.
	 */
	unsigned keep = new_addr == old ? ~0u : ~PK__R_PERSIST;
	write_begin(); /* readers see the move whole or not at all */
	if (!keep_old)
		pk__reg_unmap(old, old + oldlen);
	/*
	 * Nothing recorded at the target survives, persistent assignments
	 * included: the caller gives those back their pages with their key
	 * (pk__persists_apply), as for memory mapped there.
	 */
	pk__reg_assign(new_addr, new_addr + newlen, -1, 0, 0);
	for (i = 0; i < n; i++)
		pk__reg_assign(moved[i].start - old + new_addr,
			       moved[i].end - old + new_addr, moved[i].key,
			       moved[i].prot, moved[i].flags & keep);
	if (tail.end)
		pk__reg_assign(new_addr + oldlen, new_addr + newlen, tail.key,
			       tail.prot, tail.flags & keep);
	write_end();
	return 0;
}

void pk__reg_unmapped(uintptr_t start, uintptr_t end)
{
	if (pk__reg_reserve(3) == 0)
		pk__reg_unmap(start, end);
}

/*
 * The walk of pk__reg_lower with atomic loads, bounded: 0 if it went
 * beyond the bound (a list changing under it), else 1 with *start and
 * *key (the key only when that range holds addr).
 */
static inline __attribute__((always_inline)) int
walk_key(uintptr_t addr, uintptr_t *start, int *key)
{
	struct pk__range *x = &head, *n;
	int top = __atomic_load_n(&levels, __ATOMIC_RELAXED), steps = 0;

	struct pk__rindex_hit h;

	if (pk__rindex_find(addr, &h) == 0) {
		int in = h.node && h.end > addr;

		*start = in ? h.start : h.next_start;
		*key = in ? h.key : 0;
		return 1;
	}
	if (top > PK__REG_LEVELS)
		top = PK__REG_LEVELS;
	for (int i = top - 1; i >= 0; i--)
		while ((n = LOAD(x->next[i])) && LOAD(n->end) <= addr) {
			x = n;
			if (++steps > 4096)
				return 0;
		}
	n = LOAD(x->next[0]);
	*start = n ? LOAD(n->start) : UINTPTR_MAX;
	*key = n ? LOAD(n->key) : 0;
	return 1;
}

/* The first range ending after addr (its start, UINTPTR_MAX if none,
 * and key), read without the lock: 0, or -1 when writers kept on. */
static inline __attribute__((always_inline)) int
lower_nolock(uintptr_t addr, uintptr_t *start, int *key)
{
	for (int tries = 0; tries < 8; tries++) {
		unsigned s1 = __atomic_load_n(&seq, __ATOMIC_ACQUIRE);
		int done;

		if (s1 & 1)
			continue;
		done = walk_key(addr, start, key);
		/*
		 * A release read-modify-write: the walk's loads come before
		 * it, and it reads the latest count.
		 */
		if (done && __atomic_fetch_add(&seq, 0, __ATOMIC_RELEASE) == s1)
			return 0;
	}
	return -1;
}

int pk__reg_key_of(uintptr_t addr)
{
	uintptr_t start;
	int key;

	if (lower_nolock(addr, &start, &key))
		return -1;
	return start <= addr && key > 0 ? key : 0;
}

int pk__reg_overlaps_nolock(uintptr_t start, uintptr_t end)
{
	uintptr_t first;
	int key;

	if (start >= end)
		return 0;
	if (lower_nolock(start, &first, &key))
		return -1;
	return first < end;
}
