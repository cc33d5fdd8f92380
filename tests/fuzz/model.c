/* SPDX-License-Identifier: MIT */
/*
 * The reference model (model.h), written from the man pages:
 * pk_protect_range(3) for assignments, flags, the authority check and
 * the order of the checks; pk_mprotect(3) and pk_mmap(3) for the calls
 * that set protections and map; pk_key_alloc(3), pk_set(3) and
 * pk_domain_enter(3) for keys and rights; libpkeys(7) for what the
 * interposed mmap, munmap, mremap and mprotect do to assignments.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "model.h"

void pkm_init(struct pkf_model *m)
{
	memset(m, 0, sizeof(*m));
	for (int p = 0; p < PKF_PAGES; p++)
		m->pg[p].rkey = -1;
	m->heap_key = -1;
}

int pkm_key_of(const struct pkf_model *m, int p)
{
	return m->pg[p].rkey > 0 ? m->pg[p].rkey : 0;
}

int pkm_fault_key(const struct pkf_model *m, int p)
{
	return pkm_key_of(m, p);
}

/*
 * Whether rights r allow the access, for page p's key; on the
 * emulation with foreign threads, also when their initial rights do.
 */
static int allows(const struct pkf_model *m, int p, unsigned deny)
{
	int k = pkm_key_of(m, p);

	if (!k || !(m->rights[k] & deny))
		return 1;
	return m->foreign && !(m->init[k] & deny);
}

int pkm_may_read(const struct pkf_model *m, int p)
{
	return (m->pg[p].prot & PROT_READ) && allows(m, p, PK_DISABLE_ACCESS);
}

int pkm_may_write(const struct pkf_model *m, int p)
{
	return (m->pg[p].prot & PROT_WRITE) &&
	       allows(m, p, PK_DISABLE_ACCESS | PK_DISABLE_WRITE);
}

int pkm_key_valid(const struct pkf_model *m, int key)
{
	return key > 0 && key < PKF_KEYS && m->allocated[key];
}

int pkm_alloc_check(unsigned flags, unsigned rights)
{
	return flags || (rights & ~3u) ? -EINVAL : 0;
}

void pkm_alloced(struct pkf_model *m, int key, unsigned rights)
{
	m->allocated[key] = 1;
	m->rights[key] = m->init[key] = (unsigned char)rights;
	m->nkeys++;
}

int pkm_key_free(struct pkf_model *m, int key)
{
	if (!pkm_key_valid(m, key))
		return -EINVAL;
	for (int p = 0; p < PKF_PAGES; p++)
		if (m->pg[p].rkey == key)
			return -EBUSY;
	for (int i = 0; i < m->domain_n; i++)
		if (m->domain[i] == key)
			return -EBUSY;
	if (m->heap_key == key)
		return -EBUSY; /* its pages are assigned the key */
	m->allocated[key] = 0;
	m->nkeys--;
	return 0;
}

int pkm_set(struct pkf_model *m, int key, unsigned rights, int all)
{
	if (key == 0)
		return rights ? -EINVAL : 0;
	if (!pkm_key_valid(m, key) || (rights & ~3u))
		return -EINVAL;
	m->rights[key] = (unsigned char)rights;
	if (all) /* pk_set_all(3): they become the initial rights too */
		m->init[key] = (unsigned char)rights;
	return 0;
}

int pkm_get(const struct pkf_model *m, int key)
{
	if (key == 0)
		return 0;
	return pkm_key_valid(m, key) ? m->rights[key] : -EINVAL;
}

int pkm_domain_enter(struct pkf_model *m, const struct pk_domain_entry *d,
		     int n)
{
	if (n < 1 || n > PK_DOMAIN_MAX)
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (!pkm_key_valid(m, d[i].key) || (d[i].rights & ~3u))
			return -EINVAL;
	for (int i = 0; i < n; i++) {
		m->rights[d[i].key] = (unsigned char)d[i].rights;
		m->domain[i] = d[i].key;
	}
	m->domain_n = n;
	return 0;
}

int pkm_domain_leave(struct pkf_model *m)
{
	m->domain_n = 0; /* the driver puts the saved rights back */
	return 0;
}

/* The checks pk_protect_range(3) and pk_unprotect_range make, in order. */
static int range_checks(const struct pkf_model *m, int s, int e, int partial,
			int wraps, unsigned flags, unsigned allowed, int key,
			int need_mapped)
{
	if (flags & ~allowed)
		return -EINVAL;
	if (partial && !(flags & PK_RANGE_ROUND))
		return -ERANGE;
	if (wraps)
		return -EFAULT;
	if (key < 0 || (key > 0 && !pkm_key_valid(m, key)))
		return -EINVAL;
	if (s == e)
		return 0;
	if (need_mapped && !(flags & PK_RANGE_PERSIST))
		for (int p = s; p < e; p++)
			if (!m->pg[p].mapped)
				return -ENOMEM;
	if (flags & PK_RANGE_EXCL)
		for (int p = s; p < e; p++)
			if (m->pg[p].rkey >= 0)
				return -EBUSY;
	if (!(flags & PK_NO_CHECK_AUTHORITY))
		for (int p = s; p < e; p++)
			if (m->pg[p].rkey > 0 && m->rights[m->pg[p].rkey])
				return -EPERM;
	return 0;
}

static void assign(struct pkf_page *pg, int key, int persist)
{
	pg->rkey = key;
	pg->persist = (char)persist;
}

int pkm_protect(struct pkf_model *m, int s, int e, int partial, int wraps,
		int key, unsigned flags)
{
	int rc = range_checks(m, s, e, partial, wraps, flags,
			      PK_RANGE_EXCL | PK_RANGE_PERSIST |
				      PK_NO_CHECK_AUTHORITY | PK_RANGE_ROUND,
			      key, 1);

	if (rc)
		return rc;
	for (int p = s; p < e; p++)
		assign(&m->pg[p], key, (flags & PK_RANGE_PERSIST) != 0);
	return 0;
}

int pkm_unprotect(struct pkf_model *m, int s, int e, int partial, int wraps,
		  unsigned flags)
{
	/* No key to check, and unmapped pages are no error. */
	int rc = range_checks(m, s, e, partial, wraps, flags,
			      PK_NO_CHECK_AUTHORITY | PK_RANGE_ROUND, 0, 0);

	if (rc)
		return rc;
	for (int p = s; p < e; p++)
		assign(&m->pg[p], -1, 0);
	return 0;
}

int pkm_pk_mprotect(struct pkf_model *m, int s, int e, int prot, int key)
{
	if ((prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)) || key < -1 ||
	    (key > 0 && !pkm_key_valid(m, key)))
		return -EINVAL;
	for (int p = s; p < e; p++)
		if (!m->pg[p].mapped)
			return -ENOMEM;
	for (int p = s; p < e; p++) {
		m->pg[p].prot = prot;
		if (key >= 0)
			assign(&m->pg[p], key > 0 ? key : -1, 0);
	}
	return 0;
}

void pkm_mprotect(struct pkf_model *m, int s, int e, int prot)
{
	for (int p = s; p < e; p++)
		m->pg[p].prot = prot;
}

/* Pages go away: assignments end unless persistent. */
static void gone(struct pkf_page *pg)
{
	pg->mapped = 0;
	pg->tag = 0;
	if (!pg->persist)
		pg->rkey = -1;
}

int pkm_map(struct pkf_model *m, int s, int e, int prot, int key)
{
	if (key < -1 || (key > 0 && !pkm_key_valid(m, key)))
		return -EINVAL;
	for (int p = s; p < e; p++) {
		gone(&m->pg[p]);
		m->pg[p].mapped = 1;
		m->pg[p].prot = prot;
		if (key >= 0)
			assign(&m->pg[p], key > 0 ? key : -1, 0);
	}
	return 0;
}

void pkm_unmap(struct pkf_model *m, int s, int e)
{
	for (int p = s; p < e; p++)
		gone(&m->pg[p]);
}

void pkm_remap(struct pkf_model *m, int src, int dst, int n)
{
	struct pkf_page from = m->pg[src];

	gone(&m->pg[src]);
	for (int p = dst; p < dst + n; p++) {
		struct pkf_page *pg = &m->pg[p];

		gone(pg);
		pg->mapped = 1;
		pg->prot = from.prot;
		/* The grown part is new memory of the same mapping. */
		pg->tag = p == dst ? from.tag : 0;
		/* A persistent assignment stays with its address, and its
		 * key is applied to the pages moved there; elsewhere keys
		 * move with the pages, as plain assignments. */
		if (!pg->persist && from.rkey >= 0)
			pg->rkey = from.rkey;
	}
}
