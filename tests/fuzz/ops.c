/* SPDX-License-Identifier: MIT */
/*
 * The calls the fuzzer makes, each with arguments from the byte source
 * (valid ones mostly, wrong ones often enough) and its result compared
 * with the model's.  A call the model refuses must return the model's
 * error; the model then stays as it was, and the check after the call
 * (driver.c) finds anything the library changed all the same.
 *
 * Failure injection: before a range call or a change of rights, one of
 * the next protection system calls may be made to fail
 * (pk__test_fail_protect).  The call must then either succeed (it made
 * fewer system calls) or return the injected error, or ENOMEM, and
 * change nothing.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <pkeys.h>
#include <pkeys/heap.h>

#include "internal.h"

#define m pkf_m
#define pick pkf_pick
#define note pkf_note
#define diverged pkf_diverged

static char *page(int p)
{
	return pkf_base + (size_t)p * pkf_pg;
}

/* An allocated key, or 0 when there is none. */
static int any_key(void)
{
	unsigned i;

	if (!m.nkeys)
		return 0;
	i = pick((unsigned)m.nkeys);
	for (int k = 1; k < PKF_KEYS; k++)
		if (m.allocated[k] && i-- == 0)
			return k;
	return 0;
}

/* Mostly an allocated key; sometimes 0, a number never allocated or
 * freed, or one out of range. */
static int pick_key(void)
{
	static const int bad[] = {-1, -2, 1024, 5000, INT_MIN, INT_MAX};

	switch (pick(12)) {
	case 0:
		return 0;
	case 1:
		return bad[pick(6)];
	case 2:
		return 1 + (int)pick(PKF_KEYS - 1);
	default:
		return any_key();
	}
}

static unsigned pick_rights(void)
{
	return pick(16) ? pick(4) : 4u << pick(4);
}

static int pick_prot(void)
{
	static const int prot[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE};

	return prot[pick(3)];
}

static unsigned pick_flags(void)
{
	unsigned f = pick(16);

	return pick(32) ? f : f | 0x10u << pick(8);
}

struct range {
	char *addr;
	size_t len;
	int s, e;	   /* the pages it touches */
	int partial, wraps;
};

/* Whole pages mostly; with odd, sometimes a partial page, or a range
 * outside user space. */
static void pick_range(struct range *r, int odd, int min)
{
	int s = (int)pick(PKF_PAGES - min + 1), left = PKF_PAGES - s;
	int n = pick(4) ? (int)pick(4) : (int)pick((unsigned)left + 1);

	if (n > left)
		n = left;
	if (n < min)
		n = min;
	*r = (struct range){page(s), (size_t)n * pkf_pg, s, s + n, 0, 0};
	if (odd && n > 0 && !pick(6)) {
		size_t off = 1 + pick((unsigned)pkf_pg - 1);

		r->partial = 1;
		switch (pick(3)) {
		case 0: /* starts inside the first page */
			r->addr += off;
			r->len -= off;
			break;
		case 1: /* ends inside the last page */
			r->len -= off;
			break;
		default: /* ends inside the page after */
			if (r->e < PKF_PAGES) {
				r->len += off;
				r->e++;
			} else {
				r->len -= off;
			}
		}
	} else if (odd && !pick(40)) {
		r->wraps = 1;
		r->s = r->e = 0;
		if (pick(2)) { /* page 0 */
			r->addr = NULL;
			r->len = pkf_pg;
		} else { /* around the end of the address space */
			r->addr = (char *)(UINTPTR_MAX & ~(uintptr_t)(pkf_pg - 1));
			r->len = 2 * pkf_pg;
		}
	}
}

static int injected;

static void inject(void)
{
	injected = 0;
	if (pick(8))
		return;
	injected = pick(2) ? ENOMEM : EACCES;
	pk__test_fail_protect(1 + (int)pick(4), injected);
}

/* The call returned rc; the model, on a copy, said exp. */
static int compare(int rc, int exp, const struct pkf_model *after)
{
	pk__test_fail_protect(0, 0);
	pkf_st->calls++;
	if (rc == exp) {
		m = *after;
		return 0;
	}
	if (injected && exp == 0 && (rc == -injected || rc == -ENOMEM))
		return 0; /* failed as injected: nothing may have changed */
	return diverged("returned %d, the model %d", rc, exp);
}

static int key_alloc(void)
{
	unsigned flags = pick(24) ? 0 : 1u << pick(4), r = pick_rights();
	int exp = pkm_alloc_check(flags, r), k;

	if (!exp && m.nkeys == PKF_MAXKEYS)
		return 0;
	note("pk_key_alloc(%#x, %u)", flags, r);
	k = pk_key_alloc(flags, r);
	pkf_st->calls++;
	if (exp || k < 0)
		return k == exp ? 0 : diverged("returned %d, the model %d", k, exp);
	if (k == 0 || k >= PKF_KEYS || m.allocated[k])
		return diverged("pk_key_alloc returned %d", k);
	pkm_alloced(&m, k, r);
	return 0;
}

static int key_free(void)
{
	struct pkf_model after = m;
	int k = pick(5) ? any_key() : pick_key();

	note("pk_key_free(%d)", k);
	injected = 0;
	return compare(pk_key_free(k), pkm_key_free(&after, k), &after);
}

static int set(int all)
{
	struct pkf_model after = m;
	int k = pick(8) ? any_key() : pick_key();
	unsigned r = pick_rights();

	note("%s(%d, %u)", all ? "pk_set_all" : "pk_set", k, r);
	inject();
	return compare(all ? pk_set_all(k, r) : pk_set(k, r),
		       pkm_set(&after, k, r, all), &after);
}

static int get(void)
{
	int k = pick_key(), got;

	note("pk_get(%d)", k);
	got = pk_get(k);
	pkf_st->calls++;
	if (got != pkm_get(&m, k))
		return diverged("returned %d, the model %d", got, pkm_get(&m, k));
	return 0;
}

static struct pk_domain_saved saved;
static unsigned char saved_rights[PKF_KEYS];

static int domain(void)
{
	struct pkf_model after = m;
	struct pk_domain_entry d[PK_DOMAIN_MAX + 1];
	int n, rc;

	if (m.domain_n) {
		note("pk_domain_leave()");
		rc = pk_domain_leave(&saved);
		for (int i = 0; i < m.domain_n; i++)
			after.rights[m.domain[i]] = saved_rights[m.domain[i]];
		injected = 0;
		return compare(rc, pkm_domain_leave(&after), &after);
	}
	n = pick(12) ? 1 + (int)pick(4) : (int)pick(PK_DOMAIN_MAX + 2);
	for (int i = 0; i < n; i++) {
		d[i].key = pick(10) ? any_key() : pick_key();
		d[i].rights = pick_rights();
		for (int j = 0; j < i; j++)
			if (d[j].key == d[i].key)
				d[i].key = 0; /* one entry per key */
	}
	note("pk_domain_enter(%d keys: %d/%u %d/%u ...)", n, n > 0 ? d[0].key : 0,
	     n > 0 ? d[0].rights : 0, n > 1 ? d[1].key : 0, n > 1 ? d[1].rights : 0);
	memcpy(saved_rights, m.rights, sizeof(saved_rights));
	inject();
	return compare(pk_domain_enter(d, n, &saved),
		       pkm_domain_enter(&after, d, n), &after);
}

static int protect(void)
{
	struct pkf_model after = m;
	struct range r;
	int k = pick_key();
	unsigned fl = pick_flags();

	pick_range(&r, 1, 0);
	note("pk_protect_range(%p = page %d..%d%s, %zu, key %d, flags %#x)",
	     (void *)r.addr, r.s, r.e, r.partial ? " partial" : "", r.len, k, fl);
	inject();
	return compare(pk_protect_range(r.addr, r.len, k, fl),
		       pkm_protect(&after, r.s, r.e, r.partial, r.wraps, k, fl),
		       &after);
}

static int unprotect(void)
{
	struct pkf_model after = m;
	struct range r;
	unsigned fl = pick_flags();

	if (pick(6))
		fl &= PK_NO_CHECK_AUTHORITY | PK_RANGE_ROUND;
	pick_range(&r, 1, 0);
	note("pk_unprotect_range(%p = page %d..%d%s, %zu, flags %#x)",
	     (void *)r.addr, r.s, r.e, r.partial ? " partial" : "", r.len, fl);
	inject();
	return compare(pk_unprotect_range(r.addr, r.len, fl),
		       pkm_unprotect(&after, r.s, r.e, r.partial, r.wraps, fl),
		       &after);
}

static int pk_mprotect_call(void)
{
	struct pkf_model after = m;
	struct range r;
	int prot = pick(16) ? pick_prot() : 0x10 << pick(3);
	int k = pick(4) ? pick_key() : -1, exp;

	pick_range(&r, 0, 0);
	if (r.len && !pick(3))
		r.len -= pick((unsigned)pkf_pg); /* rounded up */
	if (!pick(30))
		r.addr += 1 + pick((unsigned)pkf_pg - 1);
	exp = ((uintptr_t)r.addr & (pkf_pg - 1))
		      ? -EINVAL
		      : pkm_pk_mprotect(&after, r.s, r.e, prot, k);
	note("pk_mprotect(%p = page %d..%d, %zu, %#x, key %d)", (void *)r.addr,
	     r.s, r.e, r.len, prot, k);
	inject();
	return compare(pk_mprotect(r.addr, r.len, prot, k), exp, &after);
}

static int all_mapped(const struct range *r)
{
	for (int p = r->s; p < r->e; p++)
		if (!m.pg[p].mapped)
			return 0;
	return 1;
}

static int plain_mprotect(void)
{
	struct range r;
	int prot = pick_prot();

	pick_range(&r, 0, 1);
	if (!all_mapped(&r))
		return 0; /* the kernel would change a part */
	note("mprotect(page %d..%d, %#x)", r.s, r.e, prot);
	pkf_st->calls++;
	if (mprotect(r.addr, r.len, prot))
		return diverged("mprotect: %s", strerror(errno));
	pkm_mprotect(&m, r.s, r.e, prot);
	return 0;
}

static int map(void)
{
	struct pkf_model after = m;
	struct range r;
	int prot = pick_prot(), k = pick(3) ? pick_key() : -1, rc, exp;
	void *at;

	pick_range(&r, 0, 1);
	at = r.addr;
	if (pick(2)) {
		note("mmap(page %d..%d, %#x, MAP_FIXED)", r.s, r.e, prot);
		at = mmap(r.addr, r.len, prot,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		rc = at == MAP_FAILED ? -errno : 0;
		exp = pkm_map(&after, r.s, r.e, prot, -1);
	} else {
		note("pk_mmap(page %d..%d, %#x, MAP_FIXED, key %d)", r.s, r.e,
		     prot, k);
		rc = pk_mmap(&at, r.len, prot, MAP_PRIVATE | MAP_FIXED, k);
		exp = pkm_map(&after, r.s, r.e, prot, k);
	}
	if (at != r.addr)
		return diverged("mapped at %p, not %p", at, (void *)r.addr);
	injected = 0;
	return compare(rc, exp, &after);
}

static int unmap(void)
{
	struct pkf_model after = m;
	struct range r;
	int rc;

	pick_range(&r, 0, 1);
	if (pick(2)) {
		note("munmap(page %d..%d)", r.s, r.e);
		rc = munmap(r.addr, r.len) ? -errno : 0;
	} else {
		note("pk_munmap(page %d..%d)", r.s, r.e);
		rc = pk_munmap(r.addr, r.len);
	}
	pkm_unmap(&after, r.s, r.e);
	injected = 0;
	return compare(rc, 0, &after);
}

/* One page moved, and maybe grown, to another place in the arena. */
static int remap(void)
{
	int src = (int)pick(PKF_PAGES), n = 1 + (int)pick(2), dst;
	void *p;

	dst = (int)pick(PKF_PAGES - (unsigned)n + 1);
	if (!m.pg[src].mapped || (src >= dst && src < dst + n))
		return 0;
	note("mremap(page %d, 1 page, %d pages, MAYMOVE|FIXED, page %d)", src,
	     n, dst);
	pkf_st->calls++;
	p = mremap(page(src), pkf_pg, (size_t)n * pkf_pg,
		   MREMAP_MAYMOVE | MREMAP_FIXED, page(dst));
	if (p != page(dst))
		return diverged("mremap returned %p: %s", p,
				p == MAP_FAILED ? strerror(errno) : "moved elsewhere");
	pkm_remap(&m, src, dst, n);
	return 0;
}

struct child {
	int key;
	unsigned rights;
	char failed[200];
};

static void *child_main(void *arg)
{
	struct child *c = arg;
	int got;

	for (int k = 1; k < PKF_KEYS; k++)
		if (m.allocated[k] && (got = pk_get(k)) != m.rights[k]) {
			snprintf(c->failed, sizeof(c->failed),
				 "new thread: pk_get(%d) = %d, its creator's %d",
				 k, got, m.rights[k]);
			return NULL;
		}
	if ((got = pk_set(c->key, c->rights)) || pk_get(c->key) != (int)c->rights)
		snprintf(c->failed, sizeof(c->failed),
			 "new thread: pk_set(%d, %u) = %d, pk_get %d", c->key,
			 c->rights, got, pk_get(c->key));
	return NULL;
}

/* A thread inherits its creator's rights; its own pk_set is its own. */
static int thread(void)
{
	struct child c = {any_key(), pick(4), ""};
	pthread_t t;

	if (!c.key)
		return 0;
	note("pthread_create: the new thread checks its rights, pk_set(%d, %u)",
	     c.key, c.rights);
	pkf_st->calls++;
	if (pthread_create(&t, NULL, child_main, &c))
		return diverged("pthread_create failed");
	pthread_join(t, NULL);
	return c.failed[0] ? diverged("%s", c.failed) : 0;
}

int pkf_one_call(void)
{
	switch (pick(20)) {
	case 0:
	case 1:
		return key_alloc();
	case 2:
		return key_free();
	case 3:
	case 4:
		return set(0);
	case 5:
		return set(1);
	case 6:
		return get();
	case 7:
		return domain();
	case 8:
	case 9:
	case 10:
		return protect();
	case 11:
		return unprotect();
	case 12:
		return pk_mprotect_call();
	case 13:
		return plain_mprotect();
	case 14:
		return map();
	case 15:
		return unmap();
	case 16:
		return remap();
	case 17:
		return pick(4) ? pkf_heap_call() : thread();
	default:
		return pkf_heap_call();
	}
}

int pkf_ops_teardown(void)
{
	int rc;

	pkf_note("teardown: leave the domain, destroy the heap");
	if (m.domain_n && (rc = pk_domain_leave(&saved)))
		return diverged("pk_domain_leave = %d", rc);
	m.domain_n = 0;
	return pkf_heap_teardown();
}
