/* SPDX-License-Identifier: MIT */
/*
 * All-or-nothing changes of keys and protections over a range.
 *
 * A range may span many kernel mappings, each with its own protection
 * and key.  The change is planned first, one piece per stretch of
 * uniform (mapping, assignment), with each piece's present state; every
 * check is made on the plan; then the pieces are changed one system call
 * each, and if one fails the pieces already changed are put back as they
 * were.  The registry is updated only once every piece succeeded.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/change.h"
#include "core/registry.h"
#include "os/own.h"
#include "os/vma.h"

struct piece {
	uintptr_t start, end;
	int old_prot, old_key;
	int new_prot, new_key;
};

/* The plan, reused between calls (lock held throughout). */
static struct piece *plan;
static size_t plan_n, plan_cap;

struct walk {
	const struct pk__backend *b;
	const struct pk__change *c;
	uintptr_t covered; /* mapped up to here, from c->start */
	int hole;
	/* The library's own pages met (arena, os/own.h): left out. */
	int nskip;
	struct pk__span skip[48];
};

static int skipped(struct walk *w, uintptr_t start, uintptr_t end)
{
	if (w->nskip && w->skip[w->nskip - 1].end == start) {
		w->skip[w->nskip - 1].end = end;
		return 0;
	}
	if (w->nskip == (int)(sizeof(w->skip) / sizeof(w->skip[0])))
		return -ENOMEM;
	w->skip[w->nskip++] = (struct pk__span){start, end};
	return 0;
}

static int plan_push(uintptr_t start, uintptr_t end, int prot, int key)
{
	if (plan_n == plan_cap) {
		size_t ncap = plan_cap ? plan_cap * 2 : 1024;
		struct piece *p = pk__arena_alloc(ncap * sizeof(*plan));
		if (!p)
			return -ENOMEM;
		/* The old plan's pages go to waste: at most half the total. */
		if (plan_n)
			memcpy(p, plan, plan_n * sizeof(*plan));
		plan = p;
		plan_cap = ncap;
	}
	plan[plan_n++] = (struct piece){start, end, prot, key, prot, key};
	return 0;
}

/*
 * One kernel mapping, clipped to the range: split it where the registry's
 * assignments start and end.  On the emulation the mapping's protection
 * is narrowed by rights, so keyed pages take the program's protection
 * from the registry; on hardware the kernel's is the truth.
 */
static int on_vma(void *ctx, uintptr_t vstart, uintptr_t vend, int vprot)
{
	struct walk *w = ctx;
	uintptr_t at = vstart > w->c->start ? vstart : w->c->start;
	uintptr_t end = vend < w->c->end ? vend : w->c->end;
	const struct pk__span *own;
	struct pk__range *r;
	uintptr_t ab, ae;
	int rc, n;

	/*
	 * The library's arena, and the memory it runs on (os/own.h), are
	 * never the program's memory: holes.
	 */
	pk__arena_bounds(&ab, &ae);
	n = pk__own_spans(&own);
	for (int i = -1; i < n; i++) {
		uintptr_t hs = i < 0 ? ab : own[i].start;
		uintptr_t he = i < 0 ? ae : own[i].end;

		if (at < he && end > hs) {
			if (at < hs && (rc = on_vma(ctx, at, hs, vprot)))
				return rc;
			/* Mapped, just not the program's: not a hole. */
			if (at > w->covered)
				w->hole = 1;
			w->covered = end < he ? end : he;
			if ((rc = skipped(w, at > hs ? at : hs, w->covered)))
				return rc;
			if (end > he)
				return on_vma(ctx, he, end, vprot);
			return 0;
		}
	}
	r = pk__reg_lower(at);

	if (at > w->covered)
		w->hole = 1;
	w->covered = end;
	while (at < end) {
		if (r && r->start <= at && (r->flags & PK__R_MAPPED)) {
			uintptr_t e = r->end < end ? r->end : end;
			int prot = w->b->narrows ? r->prot : vprot;
			rc = plan_push(at, e, prot, r->key);
			at = e;
			r = r->next[0];
		} else if (r && r->start <= at) {
			/* An unmapped assignment under a mapping made behind
			 * the library's back: its pages carry no key yet. */
			uintptr_t e = r->end < end ? r->end : end;
			rc = plan_push(at, e, vprot, -1);
			at = e;
			r = r->next[0];
		} else {
			/* No assignment: key -1, whatever the kernel has. */
			uintptr_t e = r && r->start < end ? r->start : end;
			rc = plan_push(at, e, vprot, -1);
			at = e;
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* Rights a thread must hold to re-key pages of key: write access. */
static int may_rekey(const struct pk__backend *b, int key)
{
	return key <= 0 || b->get(key) == 0;
}

/*
 * Put the pieces already changed back.  A piece that had no known key
 * (-1) and was given one goes back to key 0, which is what the kernel
 * gives pages nobody keyed.
 */
static void undo(const struct pk__backend *b, size_t done)
{
	while (done--) {
		struct piece *p = &plan[done];
		int key = p->old_key;
		if (key < 0 && p->new_key != p->old_key)
			key = 0;
		b->protect((void *)p->start, p->end - p->start, p->old_prot,
			   key);
	}
}

int pk__change(const struct pk__backend *b, const struct pk__change *c)
{
	struct walk w = {.b = b, .c = c, .covered = c->start};
	const struct pk__span *own;
	struct pk__range *r;
	size_t i;
	int rc;

	plan_n = 0;
	/* The library's own spans complete (their first look reads the
	 * maps) before the walk over the maps begins. */
	(void)pk__own_spans(&own);
	rc = pk__vma_walk(c->start, c->end, on_vma, &w);
	if (rc)
		return rc;
	if (w.covered < c->end)
		w.hole = 1;
	if (w.hole && !(c->flags & PK__C_UNMAPPED_OK))
		return -ENOMEM;

	if (c->flags & PK__C_EXCL) {
		r = pk__reg_lower(c->start);
		if (r && r->start < c->end)
			return -EBUSY;
	}
	if (c->flags & PK__C_AUTHORITY) {
		/* Every key now on the pages, mapped or persistent. */
		for (r = pk__reg_lower(c->start); r && r->start < c->end;
		     r = r->next[0])
			if (!may_rekey(b, r->key))
				return -EPERM;
	}
	rc = pk__reg_reserve(3 * (plan_n + (size_t)w.nskip) + 6);
	if (rc)
		return rc;

	for (i = 0; i < plan_n; i++) {
		struct piece *p = &plan[i];
		if (c->flags & PK__C_PROT)
			p->new_prot = c->prot;
		if (c->key >= 0)
			p->new_key = c->key;
		/* Pages with no assignment already have key 0, as far as
		 * the library knows: forgetting needs no call for them. */
		if (p->new_prot == p->old_prot &&
		    (p->new_key == p->old_key ||
		     (p->old_key < 0 && (c->flags & PK__C_FORGET))))
			continue;
		rc = b->protect((void *)p->start, p->end - p->start,
				p->new_prot, p->new_key);
		if (rc) {
			undo(b, i);
			return rc;
		}
	}

	if (c->key < 0) {
		pk__reg_set_prot(c->start, c->end, c->prot);
	} else if (c->flags & PK__C_FORGET) {
		pk__reg_assign(c->start, c->end, -1, 0, 0);
	} else {
		pk__reg_assign(c->start, c->end, c->key, 0,
			       c->flags & PK__C_PERSIST ? PK__R_PERSIST : 0);
		for (i = 0; i < plan_n; i++)
			pk__reg_map(plan[i].start, plan[i].end, plan[i].new_prot);
		for (int s = 0; s < w.nskip; s++)
			pk__reg_assign(w.skip[s].start, w.skip[s].end, -1, 0, 0);
	}
	return 0;
}

int pk__map_new(const struct pk__backend *b, uintptr_t start, uintptr_t end,
		int prot)
{
	struct pk__range *r;
	uintptr_t at = start, e;
	int rc, key;

	/*
	 * The mapping was made PROT_NONE and replaced whatever was there.
	 * Open it piece by piece, each persistent assignment's pages with
	 * their key in the same call, so no page is ever reachable without
	 * its key.
	 */
	if (pk__reg_reserve(6))
		return -ENOMEM;
	pk__reg_unmap(start, end);
	for (r = pk__reg_lower(start); at < end; at = e) {
		if (r && r->start <= at) {
			e = r->end < end ? r->end : end;
			key = r->key;
			r = r->next[0];
		} else {
			e = r && r->start < end ? r->start : end;
			key = 0;
		}
		rc = b->protect((void *)at, e - at, prot, key);
		if (rc)
			return rc;
	}
	pk__reg_map(start, end, prot);
	return 0;
}
