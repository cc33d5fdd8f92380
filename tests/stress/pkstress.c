/* SPDX-License-Identifier: MIT */
/*
 * pkstress: many threads making mixed library calls at once, each on
 * its own pages, with what each call promises checked as it returns and
 * the whole state checked at the end.
 *
 *   pkstress [THREADS [OPS]]     (default 8 threads, 20,000 calls each)
 *
 * Every thread shares the same keys and keys its own pages with them:
 *   - pk_set then pk_get: the thread's own rights, exactly (per thread on
 *     both backends);
 *   - pk_protect_range of an own page, then pk_key_of;
 *   - a write and read of an own page whose key the thread has open
 *     (never stopped: on the emulation the open rights are in the union);
 *   - a new mapping over an own page (MAP_FIXED): no key left;
 *   - a domain of two keys entered and left: rights inside and after;
 *   - a temporary key allocated and freed (ENOSPC allowed).
 * At the end every page carries the key last given to it, and after the
 * keys are freed the count of available keys is what it was at the
 * start.  Exits 0 when all held, 1 with the first failure.  Meant for
 * sanitizers too (make check runs it under ThreadSanitizer).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pkeys.h>

enum { NKEYS = 6, PAGES = 4 };

static int keys[NKEYS], ops;
static size_t pg;

struct worker {
	pthread_t t;
	unsigned seed;
	char *pages;
	int key_of[PAGES];
	unsigned rights[NKEYS];
	char failed[200];
};

#define FAIL(w, ...)                                                       \
	do {                                                               \
		snprintf((w)->failed, sizeof((w)->failed), __VA_ARGS__);   \
		return NULL;                                               \
	} while (0)

static unsigned next(unsigned *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	int rc;

	for (int k = 0; k < NKEYS; k++)
		w->rights[k] = (unsigned)pk_get(keys[k]);
	for (int i = 0; i < ops; i++) {
		unsigned r = next(&w->seed);
		int k = (int)(r % NKEYS), p = (int)((r >> 4) % PAGES);
		char *page = w->pages + (size_t)p * pg;
		unsigned want = (r >> 8) % 3;

		switch ((r >> 12) % 6) {
		case 0:
			if ((rc = pk_set(keys[k], want)))
				FAIL(w, "pk_set: %d", rc);
			w->rights[k] = want;
			if (pk_get(keys[k]) != (int)want)
				FAIL(w, "pk_get %d != %u", pk_get(keys[k]), want);
			break;
		case 1:
			if ((rc = pk_protect_range(page, pg, keys[k],
						   PK_NO_CHECK_AUTHORITY)))
				FAIL(w, "pk_protect_range: %d", rc);
			w->key_of[p] = keys[k];
			if (pk_key_of(page) != keys[k])
				FAIL(w, "pk_key_of %d != %d", pk_key_of(page),
				     keys[k]);
			break;
		case 2: {
			int kk = -1;

			for (int j = 0; j < NKEYS; j++)
				if (keys[j] == w->key_of[p])
					kk = j;
			if (w->key_of[p] && (kk < 0 || w->rights[kk] != 0))
				break;
			page[r % pg] = (char)r;
			if (page[r % pg] != (char)r)
				FAIL(w, "write not read back");
			break;
		}
		case 3:
			/* Replaced in one call: an munmap would let another
			 * thread's mapping take the address meanwhile. */
			if (mmap(page, pg, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
				 0) != page)
				FAIL(w, "mmap(MAP_FIXED): %s", strerror(errno));
			w->key_of[p] = 0;
			if (pk_key_of(page) != 0)
				FAIL(w, "key %d survived the new mapping",
				     pk_key_of(page));
			break;
		case 4: {
			int k2 = (k + 1) % NKEYS;
			struct pk_domain_entry d[2] = {{keys[k], want},
						       {keys[k2], 0}};
			struct pk_domain_saved s;

			if ((rc = pk_domain_enter(d, 2, &s)))
				FAIL(w, "pk_domain_enter: %d", rc);
			if (pk_get(keys[k]) != (int)want || pk_get(keys[k2]) != 0)
				FAIL(w, "rights inside the domain");
			if ((rc = pk_domain_leave(&s)))
				FAIL(w, "pk_domain_leave: %d", rc);
			if (pk_get(keys[k]) != (int)w->rights[k] ||
			    pk_get(keys[k2]) != (int)w->rights[k2])
				FAIL(w, "rights after the domain");
			break;
		}
		default: {
			int t = pk_key_alloc(0, PK_DISABLE_ACCESS);

			if (t == -ENOSPC)
				break;
			if (t <= 0)
				FAIL(w, "pk_key_alloc: %d", t);
			if ((rc = pk_key_free(t)))
				FAIL(w, "pk_key_free: %d", rc);
		}
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 8, avail, bad = 0;
	struct worker *w;

	ops = argc > 2 ? atoi(argv[2]) : 20000;
	pg = (size_t)sysconf(_SC_PAGESIZE);
	if (n <= 0 || ops <= 0 || !(w = calloc((size_t)n, sizeof(*w)))) {
		fprintf(stderr, "usage: pkstress [THREADS [OPS]]\n");
		return 2;
	}
	if (pk_init()) {
		fprintf(stderr, "pkstress: no backend: %s\n", pk_backend_reason());
		return 2;
	}
	avail = pk_keys_available();
	for (int k = 0; k < NKEYS; k++)
		if ((keys[k] = pk_key_alloc(0, 0)) <= 0) {
			fprintf(stderr, "pkstress: pk_key_alloc: %d\n", keys[k]);
			return 1;
		}
	for (int i = 0; i < n; i++) {
		w[i].seed = 0x9e3779b9u * (unsigned)(i + 1);
		w[i].pages = mmap(NULL, PAGES * pg, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (w[i].pages == MAP_FAILED ||
		    pthread_create(&w[i].t, NULL, work, &w[i])) {
			fprintf(stderr, "pkstress: cannot start thread %d\n", i);
			return 1;
		}
	}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].failed[0]) {
			fprintf(stderr, "pkstress: thread %d: %s\n", i, w[i].failed);
			bad = 1;
		}
		for (int p = 0; p < PAGES && !bad; p++)
			if (pk_key_of(w[i].pages + (size_t)p * pg) != w[i].key_of[p]) {
				fprintf(stderr, "pkstress: thread %d page %d: key %d, "
						"expected %d\n", i, p,
					pk_key_of(w[i].pages + (size_t)p * pg),
					w[i].key_of[p]);
				bad = 1;
			}
		if (pk_munmap(w[i].pages, PAGES * pg) && !bad) {
			fprintf(stderr, "pkstress: pk_munmap failed\n");
			bad = 1;
		}
	}
	for (int k = 0; k < NKEYS && !bad; k++)
		if (pk_key_free(keys[k])) {
			fprintf(stderr, "pkstress: key %d cannot be freed\n", keys[k]);
			bad = 1;
		}
	if (!bad && pk_keys_available() != avail) {
		fprintf(stderr, "pkstress: %d keys available, %d at the start\n",
			pk_keys_available(), avail);
		bad = 1;
	}
	printf("pkstress: %s backend, %d threads x %d calls: %s\n",
	       pk_backend_name(), n, ops, bad ? "FAILED" : "all held");
	free(w);
	return bad;
}
