/* SPDX-License-Identifier: MIT */
/*
 * The registry's lookup index (core/rindex.h).  A top array routes a
 * start to the chunk whose first entry is the last one at or below it;
 * a chunk holds up to CHUNK entries, sorted.  A full chunk splits in
 * two; a chunk under a quarter full merges into a neighbour when both
 * fit in three quarters of one.  Every store a reader may see is
 * atomic (the registry's count tells it whether to keep the answer);
 * lengths are clamped to the block's room, so a stale read stays in
 * bounds.  Memory comes from the arena: chunks are reused through a
 * free list, a top array outgrown is left behind (the arena never
 * unmaps, and a reader may still be in it).
 */
#include <string.h>

#include "core/arena.h"
#include "core/range.h"
#include "core/rindex.h"

#define CHUNK 64

/* The node's end and key too: a lookup reads no node. */
struct entry {
	uintptr_t start, end;
	struct pk__range *node;
	int key;
};

struct chunk {
	size_t n;
	struct chunk *free_next;
	struct entry e[CHUNK];
};

struct route {
	uintptr_t start; /* its chunk's first entry's */
	struct chunk *c;
};

struct top {
	size_t cap, n;
	struct route r[];
};

static struct top *top; /* NULL: off */
static struct chunk *free_chunks;

#define STORE(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
/*
 * A reader follows the top array's chunk pointers below the count it
 * reads, so every store of the count is a release, and its load an
 * acquire: the pointers written before it are seen (on x86 plain moves;
 * on weakly ordered CPUs a reader could otherwise see the new count and
 * a slot not yet written, NULL in fresh memory).  A slot below any count
 * ever stored holds a chunk: slots are never cleared.
 */
#define STORE_N(t, value) __atomic_store_n(&(t)->n, (value), __ATOMIC_RELEASE)

static void chunk_put(struct chunk *c)
{
	c->free_next = free_chunks;
	free_chunks = c;
}

/* The arena hands out whole pages, each with a system call: chunks
 * come a block at a time. */
#define CHUNK_BLOCK (64 * 1024)

static struct chunk *chunk_get(void)
{
	struct chunk *c = free_chunks;

	if (!c) {
		struct chunk *b = pk__arena_alloc(CHUNK_BLOCK);
		if (!b)
			return NULL;
		for (size_t i = 0; i < CHUNK_BLOCK / sizeof(*b); i++)
			chunk_put(&b[i]);
		c = free_chunks;
	}
	free_chunks = c->free_next;
	STORE(c->n, 0);
	return c;
}

/* A top array with room for cap routes, holding the current ones. */
static struct top *top_new(size_t cap)
{
	struct top *t = pk__arena_alloc(sizeof(*t) + cap * sizeof(t->r[0]));

	if (!t)
		return NULL;
	t->cap = cap;
	if (top) {
		t->n = top->n;
		memcpy(t->r, top->r, top->n * sizeof(t->r[0]));
	}
	return t;
}

/* Off: lookups walk the list until the next reserve builds anew. */
void pk__rindex_switch_off(void)
{
	struct top *t = top;

	if (!t)
		return;
	__atomic_store_n(&top, NULL, __ATOMIC_RELEASE);
	for (size_t i = 0; i < t->n; i++)
		chunk_put(t->r[i].c);
}

/* How many of the n starts are at or below addr. */
#define UPPER(base, n, addr)                                               \
	({                                                                 \
		size_t lo_ = 0, hi_ = (n);                                 \
		while (lo_ < hi_) {                                        \
			size_t mid_ = lo_ + (hi_ - lo_) / 2;               \
			if (LOAD((base)[mid_].start) <= (addr))            \
				lo_ = mid_ + 1;                            \
			else                                               \
				hi_ = mid_;                                \
		}                                                          \
		lo_;                                                       \
	})

static int top_insert(size_t i, struct chunk *c)
{
	if (top->n == top->cap) {
		struct top *t = top_new(top->cap * 2);
		if (!t)
			return -1;
		__atomic_store_n(&top, t, __ATOMIC_RELEASE);
	}
	for (size_t j = top->n; j > i; j--) {
		STORE(top->r[j].start, top->r[j - 1].start);
		STORE(top->r[j].c, top->r[j - 1].c);
	}
	STORE(top->r[i].start, c->e[0].start);
	STORE(top->r[i].c, c);
	STORE_N(top, top->n + 1);
	return 0;
}

static void top_remove(size_t i)
{
	STORE_N(top, top->n - 1);
	for (size_t j = i; j < top->n; j++) {
		STORE(top->r[j].start, top->r[j + 1].start);
		STORE(top->r[j].c, top->r[j + 1].c);
	}
}

/* The chunk a start belongs in (the first one for starts before all). */
static size_t route(uintptr_t start)
{
	size_t i = UPPER(top->r, top->n, start);

	return i ? i - 1 : 0;
}

static void entry_copy(struct entry *to, const struct entry *from)
{
	STORE(to->start, from->start);
	STORE(to->end, from->end);
	STORE(to->node, from->node);
	STORE(to->key, from->key);
}

static void entry_set(struct entry *e, const struct pk__range *r)
{
	STORE(e->start, r->start);
	STORE(e->end, r->end);
	STORE(e->node, (struct pk__range *)r);
	STORE(e->key, r->key);
}

static void move_entries(struct chunk *to, size_t at, const struct chunk *from,
			 size_t first, size_t n)
{
	for (size_t k = 0; k < n; k++)
		entry_copy(&to->e[at + k], &from->e[first + k]);
}

void pk__rindex_add(struct pk__range *r)
{
	uintptr_t start = r->start;
	struct chunk *c;
	size_t i, j;

	if (!top)
		return;
	if (top->n == 0) {
		if (!(c = chunk_get()))
			goto off;
		entry_set(&c->e[0], r);
		STORE(c->n, 1);
		if (top_insert(0, c))
			goto off;
		return;
	}
	i = route(start);
	c = top->r[i].c;
	if (c->n == CHUNK) { /* split: the upper half to a new chunk */
		struct chunk *h = chunk_get();
		if (!h)
			goto off;
		move_entries(h, 0, c, CHUNK / 2, CHUNK / 2);
		STORE(h->n, CHUNK / 2);
		STORE(c->n, CHUNK / 2);
		if (top_insert(i + 1, h))
			goto off;
		if (start >= h->e[0].start)
			c = h, i++;
	}
	j = UPPER(c->e, c->n, start);
	for (size_t k = c->n; k > j; k--)
		entry_copy(&c->e[k], &c->e[k - 1]);
	entry_set(&c->e[j], r);
	STORE(c->n, c->n + 1);
	if (j == 0)
		STORE(top->r[i].start, start);
	return;
off:
	pk__rindex_switch_off();
}

/* Chunk i fell under a quarter: into a neighbour when both fit. */
static void maybe_merge(size_t i)
{
	size_t l = i;
	struct chunk *a, *b;

	if (i > 0 && top->r[i - 1].c->n + top->r[i].c->n <= CHUNK * 3 / 4)
		l = i - 1;
	else if (i + 1 < top->n &&
		 top->r[i].c->n + top->r[i + 1].c->n <= CHUNK * 3 / 4)
		l = i;
	else
		return;
	a = top->r[l].c;
	b = top->r[l + 1].c;
	move_entries(a, a->n, b, 0, b->n);
	STORE(a->n, a->n + b->n);
	top_remove(l + 1);
	chunk_put(b);
}

/* r's entry, or NULL (then the index is switched off: not reached,
 * every listed node is indexed). */
static struct entry *entry_of(const struct pk__range *r, size_t *ci,
			      size_t *ei)
{
	struct chunk *c;
	size_t i, j;

	if (!top || top->n == 0)
		return NULL;
	i = route(r->start);
	c = top->r[i].c;
	j = UPPER(c->e, c->n, r->start);
	if (j == 0 || c->e[j - 1].node != r) {
		pk__rindex_switch_off();
		return NULL;
	}
	*ci = i;
	*ei = j - 1;
	return &c->e[j - 1];
}

void pk__rindex_set_end(const struct pk__range *r)
{
	size_t i, j;
	struct entry *e = entry_of(r, &i, &j);

	if (e)
		STORE(e->end, r->end);
}

void pk__rindex_remove(const struct pk__range *r)
{
	struct chunk *c;
	size_t i, j;

	if (!entry_of(r, &i, &j))
		return;
	c = top->r[i].c;
	for (size_t k = j; k + 1 < c->n; k++)
		entry_copy(&c->e[k], &c->e[k + 1]);
	STORE(c->n, c->n - 1);
	if (c->n == 0) {
		top_remove(i);
		chunk_put(c);
		return;
	}
	if (j == 0)
		STORE(top->r[i].start, c->e[0].start);
	if (c->n < CHUNK / 4)
		maybe_merge(i);
}

int pk__rindex_off(void)
{
	return !top;
}

int pk__rindex_build(struct pk__range *first)
{
	struct top *t;

	if (top)
		return 0;
	if (!(t = top_new(64)))
		return -1;
	__atomic_store_n(&top, t, __ATOMIC_RELEASE);
	for (struct pk__range *r = first; r && top; r = r->next[0])
		pk__rindex_add(r);
	return top ? 0 : -1;
}

int pk__rindex_find(uintptr_t addr, struct pk__rindex_hit *h)
{
	const struct top *t = __atomic_load_n(&top, __ATOMIC_ACQUIRE);
	const struct chunk *c;
	size_t n, m, i, j;

	if (!t)
		return -1;
	n = __atomic_load_n(&t->n, __ATOMIC_ACQUIRE);
	n = n < t->cap ? n : t->cap;
	i = UPPER(t->r, n, addr);
	h->node = NULL;
	if (i == 0) { /* before every range: the first one follows */
		h->next_start = n ? LOAD(t->r[0].start) : UINTPTR_MAX;
		return 0;
	}
	c = LOAD(t->r[i - 1].c);
	m = LOAD(c->n);
	m = m < CHUNK ? m : CHUNK;
	j = UPPER(c->e, m, addr);
	if (j == 0) { /* not reached unless the index is changing */
		h->next_start = UINTPTR_MAX;
		return 0;
	}
	h->node = LOAD(c->e[j - 1].node);
	h->start = LOAD(c->e[j - 1].start);
	h->end = LOAD(c->e[j - 1].end);
	h->key = LOAD(c->e[j - 1].key);
	h->next_start = j < m ? LOAD(c->e[j].start)
		      : i < n ? LOAD(t->r[i].start)
			      : UINTPTR_MAX;
	return 0;
}
