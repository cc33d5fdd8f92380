/* SPDX-License-Identifier: MIT */
/*
 * bench_switch: the cost of closing and reopening access to a key that
 * covers N separate regions (one page each), with pk_set on the backend
 * at hand versus a hand-written mprotect loop over the same regions.
 *
 *   bench_switch [ROUNDS]
 *
 * The baseline calls the mprotect system call directly, so it pays
 * nothing for the library's interposed mprotect.
 *
 * Each round closes and reopens once; the table gives the mean time of
 * one round in microseconds over ROUNDS rounds (default: enough rounds
 * for about 0.2 s per cell).
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

/* N single pages separated by unkeyed guard pages, so none merge. */
static char *regions(size_t n, size_t page)
{
	char *p = mmap(NULL, 2 * n * page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		p[2 * i * page] = 1;
	return p;
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

/*
 * Mean seconds per round.  One timed round sizes the run to about 0.2 s
 * (at least 3 rounds) unless the caller fixed the count.
 */
static double measure(void (*round)(void *), void *arg, long fixed)
{
	double t0 = now(), one;
	long rounds = fixed;

	round(arg);
	one = now() - t0;
	if (!rounds) {
		rounds = (long)(0.2 / (one > 1e-9 ? one : 1e-9));
		rounds = rounds < 3 ? 3 : rounds > 1000000 ? 1000000 : rounds;
	}
	t0 = now();
	for (long r = 0; r < rounds; r++)
		round(arg);
	return (now() - t0) / rounds;
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
		char *a = regions(n, page), *b = regions(n, page);
		int key = pk_key_alloc(0, 0);
		double tk, tm;

		if (key < 0) {
			fprintf(stderr, "pk_key_alloc: %s\n", strerror(-key));
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			pk_mprotect(a + 2 * i * page, page,
				    PROT_READ | PROT_WRITE, key);

		tk = measure(close_open_key, &key, fixed);
		tm = measure(close_open_loop, &(struct loop){b, n, page}, fixed);
		printf("%8zu %16.3f %16.3f %8.2fx\n", n, tk * 1e6, tm * 1e6,
		       tm / tk);

		pk_mprotect(a, 2 * n * page, PROT_READ | PROT_WRITE, 0);
		pk_key_free(key);
		munmap(a, 2 * n * page);
		munmap(b, 2 * n * page);
	}
	return 0;
}
