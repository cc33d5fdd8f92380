/* SPDX-License-Identifier: MIT */
/*
 * bench_switch: the cost of closing and reopening access to a key that
 * covers N separate regions (one page each), with pk_set on the backend
 * at hand versus a hand-written mprotect loop over the same regions.
 *
 *   bench_switch [ROUNDS]
 *
 * The baseline calls the mprotect system call directly, so it pays
 * nothing for the library's interposed mprotect, on the key's own pages
 * while the key is open (it leaves them as it found them): both sides
 * change the very same pages, so the kernel's work is the same (pages
 * at other addresses came out up to 1.5% apart for the same loop).
 *
 * Each round closes and reopens once; the table gives the time of one
 * round in microseconds: the median of 9 blocks of ROUNDS rounds each,
 * the two sides' blocks alternating (default: blocks sized for about
 * 0.2 s per cell).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pkeys.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * N single pages, each with an unkeyed page either side so that none
 * merge, in one read-write mapping fenced by inaccessible pages from
 * whatever the kernel places beside it: each close splits a mapping in
 * three, as closing a key's page inside a program's mapping does.
 * Returns the first of the N pages; they follow every other page.
 */
static char *regions(size_t n, size_t page)
{
	char *p = mmap(NULL, (2 * n + 3) * page, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED ||
	    mprotect(p + page, (2 * n + 1) * page, PROT_READ | PROT_WRITE)) {
		perror("mmap");
		exit(1);
	}
	p += 2 * page;
	for (size_t i = 0; i < n; i++)
		p[2 * i * page] = 1;
	return p;
}

static void regions_free(char *p, size_t n, size_t page)
{
	munmap(p - 2 * page, (2 * n + 3) * page);
}

struct loop {
	char *base;
	size_t n, page;
};

static void close_open_key(void *arg)
{
	int key = *(int *)arg;

	pk_set(key, PK_DISABLE_ACCESS);
	pk_set(key, 0);
}

static void close_open_loop(void *arg)
{
	const struct loop *l = arg;

	for (size_t i = 0; i < l->n; i++)
		syscall(SYS_mprotect, l->base + 2 * i * l->page, l->page,
			PROT_NONE);
	for (size_t i = 0; i < l->n; i++)
		syscall(SYS_mprotect, l->base + 2 * i * l->page, l->page,
			PROT_READ | PROT_WRITE);
}

/* Seconds per round over rounds rounds. */
static double block(void (*round)(void *), void *arg, long rounds)
{
	double t0 = now();

	for (long r = 0; r < rounds; r++)
		round(arg);
	return (now() - t0) / rounds;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Median seconds per round of each of two rounds, timed in alternating
 * blocks so that a slow moment of the machine (this runs on shared
 * virtual CPUs) falls on both alike rather than on whichever ran
 * second.  One timed round of each sizes the blocks to about 0.2 s in
 * all (at least 3 rounds a block) unless the caller fixed the count.
 */
#define BLOCKS 9
static void measure(void (*a)(void *), void *arg_a, double *ta,
		    void (*b)(void *), void *arg_b, double *tb, long fixed)
{
	double sa[BLOCKS], sb[BLOCKS], one;
	long rounds = fixed;

	one = block(a, arg_a, 1) + block(b, arg_b, 1);
	if (!rounds) {
		rounds = (long)(0.2 / BLOCKS / (one > 1e-9 ? one : 1e-9));
		rounds = rounds < 3 ? 3 : rounds > 1000000 ? 1000000 : rounds;
	}
	for (int i = 0; i < BLOCKS; i++) {
		sa[i] = block(a, arg_a, rounds);
		sb[i] = block(b, arg_b, rounds);
	}
	qsort(sa, BLOCKS, sizeof(sa[0]), by_value);
	qsort(sb, BLOCKS, sizeof(sb[0]), by_value);
	*ta = sa[BLOCKS / 2];
	*tb = sb[BLOCKS / 2];
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {1, 16, 256, 4096};
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	long fixed = argc > 1 ? atol(argv[1]) : 0;
	int rc = pk_init();

	if (rc) {
		fprintf(stderr, "pk_init: %s (%s)\n", strerror(-rc),
			pk_backend_reason());
		return 1;
	}
	printf("backend: %s\n", pk_backend_name());
	printf("%8s %16s %16s %9s\n", "regions", "pk_set us/round",
	       "mprotect us/round", "ratio");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		size_t n = sizes[s];
		char *a = regions(n, page);
		int key = pk_key_alloc(0, 0);
		double tk, tm;

		if (key < 0) {
			fprintf(stderr, "pk_key_alloc: %s\n", strerror(-key));
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			pk_mprotect(a + 2 * i * page, page,
				    PROT_READ | PROT_WRITE, key);

		measure(close_open_key, &key, &tk, close_open_loop,
			&(struct loop){a, n, page}, &tm, fixed);
		printf("%8zu %16.3f %16.3f %8.2fx\n", n, tk * 1e6, tm * 1e6,
		       tm / tk);

		pk_mprotect(a, 2 * n * page, PROT_READ | PROT_WRITE, 0);
		pk_key_free(key);
		regions_free(a, n, page);
	}
	return 0;
}
