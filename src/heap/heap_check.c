/* SPDX-License-Identifier: MIT */
/*
 * pk_heap's checks: reports, canaries, and what a pointer given to the
 * heap is (a live block, a freed one, or not a block at all).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap_internal.h"

/* Reports: formatted under the lock, delivered after it is dropped. */
void pk__heap_note(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(m->text, sizeof(m->text), "pk_heap: ");

	va_start(ap, fmt);
	vsnprintf(m->text + n, sizeof(m->text) - (size_t)n, fmt, ap);
	va_end(ap);
	m->set = 1;
}

void pk__heap_deliver(const struct pk_heap *h, const struct msg *m,
		      int bad_input)
{
	if (!m->set)
		return;
	if (h->report)
		h->report(h->report_arg, m->text);
	else
		fprintf(stderr, "%s\n", m->text);
	if (bad_input && (h->flags & PK_HEAP_ABORT))
		abort();
}

/*
 * Give the calling thread write access to the key for a call, keeping
 * in *saved what to restore.  No system call when it already has it.
 */
int pk__heap_open_key(const struct pk_heap *h, int *saved)
{
	int r = pk_get(h->key);

	if (r < 0)
		return r;
	*saved = r;
	return r == 0 ? 0 : pk_set(h->key, 0);
}

/* Narrowing can fail on the emulation (mprotect); never silently. */
static void close_key(const struct pk_heap *h, int saved, struct msg *m)
{
	if (saved == 0 || pk_set(h->key, (unsigned)saved) == 0)
		return;
	pk__heap_note(m,
		      "heap %p: could not restore this thread's rights %d for "
		      "key %d: they stay open",
		      (const void *)h, saved, h->key);
}

void pk__heap_close_key(const struct pk_heap *h, int saved)
{
	struct msg m = {0};

	close_key(h, saved, &m);
	pk__heap_deliver(h, &m, 0);
}

/* A report made under the lock waits in the heap until the unlock. */
void pk__heap_close_key_locked(struct pk_heap *h, int saved)
{
	close_key(h, saved, &h->pending);
}

void pk__heap_unlock(struct pk_heap *h)
{
	struct msg m;

	if (!h->pending.set) {
		pthread_mutex_unlock(&h->lock);
		return;
	}
	m = h->pending;
	h->pending.set = 0;
	pthread_mutex_unlock(&h->lock);
	pk__heap_deliver(h, &m, 0);
}

/*
 * Canaries depend on the heap's secret and on their address, so one
 * copied from elsewhere does not fit.  Every byte is non-zero, so that
 * an off-by-one NUL is caught too.
 */
static void canary_of(const struct pk_heap *h, const char *at, uint64_t c[2])
{
	uint64_t a = (uint64_t)(uintptr_t)at;

	c[0] = (h->secret[0] ^ a) | 0x0101010101010101u;
	c[1] = (h->secret[1] ^ (a * 0x9e3779b97f4a7c15u)) | 0x0101010101010101u;
}

void pk__heap_canary_write(const struct pk_heap *h, char *at)
{
	uint64_t c[2];

	canary_of(h, at, c);
	memcpy(at, c, CANARY);
}

/* The first damaged canary byte at `at`, or -1. */
static int canary_check(const struct pk_heap *h, const char *at)
{
	uint64_t c[2];
	const unsigned char *want = (const unsigned char *)c;

	canary_of(h, at, c);
	for (int i = 0; i < (int)CANARY; i++)
		if ((unsigned char)at[i] != want[i])
			return i;
	return -1;
}

int pk__heap_inside(const struct pk_heap *h, const void *p)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)h->base;

	return a >= b && a - b < (h->npages << h->shift);
}

/*
 * What p is; 0 for a live block, else -EINVAL or -EALREADY with why
 * filled in.  Lock held.
 */
int pk__heap_lookup(const struct pk_heap *h, const void *p, struct block *b,
		    const char **why)
{
	size_t off, in;
	const struct page *d;

	if (!pk__heap_inside(h, p)) {
		*why = "outside its memory";
		return -EINVAL;
	}
	off = (size_t)((const char *)p - h->base);
	b->pg = off >> h->shift;
	b->addr = (char *)p;
	in = off & (h->page - 1);
	d = &h->pages[b->pg];
	switch (d->kind) {
	case P_SLAB:
	case P_FREED_SLAB:
		b->large = 0;
		b->slot = (unsigned)(in / h->slot[d->cls]);
		b->usable = pk__heap_class_size[d->cls];
		if (in % h->slot[d->cls] || b->slot >= h->nslots[d->cls]) {
			*why = "not the start of a block";
			return -EINVAL;
		}
		if (d->kind == P_FREED_SLAB ||
		    !(slot_bits(h, b->pg)[b->slot / 64] >> (b->slot % 64) &
		      1)) {
			*why = "already free (double free?)";
			return -EALREADY;
		}
		return 0;
	case P_LARGE:
	case P_FREED_LARGE:
		b->large = 1;
		b->slot = 0;
		b->usable = ((size_t)d->npages << h->shift) -
			    (h->flags & PK_HEAP_CANARIES ? CANARY : 0);
		if (in) {
			*why = "not the start of a block";
			return -EINVAL;
		}
		if (d->kind == P_FREED_LARGE) {
			*why = "already free (double free?)";
			return -EALREADY;
		}
		return 0;
	case P_LARGE_TAIL:
		*why = "not the start of a block";
		return -EINVAL;
	default:
		*why = "in pages the heap does not use";
		return -EINVAL;
	}
}

/* Check the canary after block b; describe damage in m.  Lock held. */
int pk__heap_check_block(const struct pk_heap *h, const struct block *b,
			 const char *call, struct msg *m)
{
	const char *at = b->addr + b->usable;
	int bad;

	if (!(h->flags & PK_HEAP_CANARIES) || (bad = canary_check(h, at)) < 0)
		return 0;
	pk__heap_note(m,
		      "%s(%p): overflow past the end of the block (%zu usable "
		      "bytes): its canary was overwritten, first at offset %zu "
		      "(0x%02x)",
		      call, (void *)b->addr, b->usable, b->usable + (size_t)bad,
		      (unsigned char)at[bad]);
	return -EOVERFLOW;
}
