/* SPDX-License-Identifier: MIT */
/*
 * bench_ranges: the cost of range calls as the registry grows.
 *
 *   bench_ranges [OPS]
 *
 * For N = 1k, 10k, 100k ranges, each one page with a gap after it so
 * none merge, alternating two keys: PERSIST assignments over unmapped
 * address space, so the kernel's mapping count does not limit N.  Then
 * OPS random calls of each kind on the full registry (default 20000):
 * pk_protect_range re-keying one range, pk_key_of of one address, and
 * pk_unprotect_range of one range followed by pk_protect_range to put
 * it back.  Prints the mean time of one call.  pk_key_of's baseline, in
 * the same run: a binary search over a sorted array of the same range
 * starts (and their keys), for the same addresses, in alternating
 * rounds (the best of ROUNDS each), and the ratio of the two.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <pkeys.h>

#define ROUNDS 5

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long next(unsigned long *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void check(int rc, const char *what)
{
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", what, strerror(-rc));
		exit(1);
	}
}

struct entry {
	uintptr_t start;
	int key;
};

/* The key of the range holding addr: the baseline lookup. */
static int bsearch_key(const struct entry *e, long n, uintptr_t addr,
		       size_t pg)
{
	long lo = 0, hi = n;

	while (lo < hi) { /* the first start above addr */
		long mid = lo + (hi - lo) / 2;
		if (e[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 && addr < e[lo - 1].start + pg ? e[lo - 1].key : 0;
}

int main(int argc, char **argv)
{
	static const long sizes[] = {1000, 10000, 100000};
	long ops = argc > 1 ? atol(argv[1]) : 20000;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	unsigned flags = PK_RANGE_PERSIST | PK_NO_CHECK_AUTHORITY;
	int keys[2];

	check(pk_init(), "pk_init");
	keys[0] = pk_key_alloc(0, 0);
	keys[1] = pk_key_alloc(0, 0);
	check(keys[0], "pk_key_alloc");
	check(keys[1], "pk_key_alloc");
	printf("backend: %s\n", pk_backend_name());
	printf("%8s %14s %18s %12s %12s %7s %22s\n", "ranges", "build us/call",
	       "protect us/call", "key_of ns", "bsearch ns", "ratio",
	       "unprotect+protect us");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		long n = sizes[s];
		size_t bytes = 2 * (size_t)n * pg;
		unsigned long seed = 88172645463325252ul;
		double t0, build, prot, keyof, bs, unprot;
		struct entry *e = malloc((size_t)n * sizeof(*e));
		unsigned long seed2;
		volatile int sink = 0;
		char *base;

		/* Address space nobody else uses: reserved, then released. */
		base = mmap(NULL, bytes, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (base == MAP_FAILED)
			return 1;
		munmap(base, bytes);

		t0 = now();
		for (long i = 0; i < n; i++)
			check(pk_protect_range(base + 2 * i * pg, pg,
					       keys[i & 1], flags),
			      "pk_protect_range");
		build = (now() - t0) / n;

		t0 = now();
		for (long i = 0; i < ops; i++) {
			long r = (long)(next(&seed) % (unsigned long)n);
			check(pk_protect_range(base + 2 * r * pg, pg,
					       keys[(r + i) & 1], flags),
			      "pk_protect_range");
		}
		prot = (now() - t0) / ops;

		if (!e)
			return 1;
		for (long i = 0; i < n; i++)
			e[i] = (struct entry){(uintptr_t)(base + 2 * i * pg),
					      pk_key_of(base + 2 * i * pg)};
		/* Rounds alternate, the same addresses for both; the best
		 * round of each is kept (a machine shared with others). */
		keyof = bs = 1e9;
		for (int round = 0; round < ROUNDS; round++) {
			double t;

			seed2 = seed;
			t0 = now();
			for (long i = 0; i < ops; i++) {
				long r = (long)(next(&seed) % (unsigned long)(2 * n));
				sink += pk_key_of(base + r * pg);
			}
			t = (now() - t0) / ops;
			keyof = t < keyof ? t : keyof;
			t0 = now();
			for (long i = 0; i < ops; i++) {
				long r = (long)(next(&seed2) % (unsigned long)(2 * n));
				sink += bsearch_key(e, n, (uintptr_t)(base + r * pg), pg);
			}
			t = (now() - t0) / ops;
			bs = t < bs ? t : bs;
		}
		free(e);

		t0 = now();
		for (long i = 0; i < ops; i++) {
			long r = (long)(next(&seed) % (unsigned long)n);
			check(pk_unprotect_range(base + 2 * r * pg, pg,
						 PK_NO_CHECK_AUTHORITY),
			      "pk_unprotect_range");
			check(pk_protect_range(base + 2 * r * pg, pg,
					       keys[r & 1], flags),
			      "pk_protect_range");
		}
		unprot = (now() - t0) / ops;

		printf("%8ld %14.2f %18.2f %12.1f %12.1f %6.2fx %22.2f\n", n,
		       build * 1e6, prot * 1e6, keyof * 1e9, bs * 1e9,
		       keyof / bs, unprot * 1e6);
		check(pk_unprotect_range(base, bytes, PK_NO_CHECK_AUTHORITY),
		      "pk_unprotect_range");
	}
	return 0;
}
