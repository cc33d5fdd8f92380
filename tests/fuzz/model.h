/* SPDX-License-Identifier: MIT */
/*
 * The reference model the fuzzer checks the library against: what the
 * man pages promise, for one thread, over a small arena of pages.  Pure
 * bookkeeping: nothing here calls the library or the kernel.
 *
 * Each model call takes the arguments of one library call (as page
 * numbers in the arena, and flags as given), returns the result the
 * documentation promises (0 or a negative errno value), and changes the
 * model only when that result is 0, as the library must ("every failing
 * call leaves every range, key and right as it was").
 */
#ifndef PKF_MODEL_H
#define PKF_MODEL_H

#include <stdint.h>

#include <pkeys.h>

enum {
	PKF_PAGES = 24,	  /* the arena */
	PKF_MAXKEYS = 20, /* allocated at once: more than x86's 15 */
	PKF_KEYS = 1024,  /* key numbers */
};

struct pkf_page {
	char mapped;
	char persist; /* the assignment is PK_RANGE_PERSIST */
	int prot;  /* PROT_NONE, PROT_READ or PROT_READ|PROT_WRITE */
	int rkey;  /* the assignment's key, -1 when none */
	uint64_t tag; /* the first word of the page */
};

struct pkf_model {
	struct pkf_page pg[PKF_PAGES];
	unsigned char allocated[PKF_KEYS];
	unsigned char rights[PKF_KEYS]; /* the calling thread's */
	unsigned char init[PKF_KEYS];	/* initial rights (pk_key_alloc) */
	/*
	 * Threads the library has no record of run beside the episode's
	 * (a sanitizer's own thread): on the emulation they hold each
	 * key's initial rights, and pages open to the widest (libpkeys(7)).
	 */
	int foreign;
	int nkeys;
	int domain[PK_DOMAIN_MAX], domain_n; /* the domain entered, if any */
	int heap_key;			     /* key of the live heap, or -1 */
};

void pkm_init(struct pkf_model *m);

/* The key pk_key_of reports for page p. */
int pkm_key_of(const struct pkf_model *m, int p);
/* Whether the thread may read / write page p now (mapped pages only). */
int pkm_may_read(const struct pkf_model *m, int p);
int pkm_may_write(const struct pkf_model *m, int p);
/* The key a fault on page p reports. */
int pkm_fault_key(const struct pkf_model *m, int p);

/* Keys and rights. */
int pkm_key_valid(const struct pkf_model *m, int key); /* allocated, > 0 */
int pkm_alloc_check(unsigned flags, unsigned rights);  /* before the call */
void pkm_alloced(struct pkf_model *m, int key, unsigned rights);
int pkm_key_free(struct pkf_model *m, int key);
int pkm_set(struct pkf_model *m, int key, unsigned rights, int all);
int pkm_get(const struct pkf_model *m, int key);
int pkm_domain_enter(struct pkf_model *m, const struct pk_domain_entry *d,
		     int n);
int pkm_domain_leave(struct pkf_model *m);

/*
 * Ranges, pages [s, e).  partial: the byte range given was not whole
 * pages (s and e are then those PK_RANGE_ROUND widens to); wraps: it
 * leaves user space (or starts in page 0).
 */
int pkm_protect(struct pkf_model *m, int s, int e, int partial, int wraps,
		int key, unsigned flags);
int pkm_unprotect(struct pkf_model *m, int s, int e, int partial, int wraps,
		  unsigned flags);
int pkm_pk_mprotect(struct pkf_model *m, int s, int e, int prot, int key);
/* mprotect(2) through the library, over mapped pages only. */
void pkm_mprotect(struct pkf_model *m, int s, int e, int prot);
/* mmap(MAP_FIXED) through the library: key -1; pk_mmap: any key. */
int pkm_map(struct pkf_model *m, int s, int e, int prot, int key);
void pkm_unmap(struct pkf_model *m, int s, int e);
/* mremap(MREMAP_MAYMOVE|MREMAP_FIXED) of page src to [dst, dst+n). */
void pkm_remap(struct pkf_model *m, int src, int dst, int n);

#endif
