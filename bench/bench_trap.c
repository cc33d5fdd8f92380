/* SPDX-License-Identifier: MIT */
/*
 * bench_trap: what the emulation costs a program that reads and writes
 * the rights register itself (x86 RDPKRU and WRPKRU, carried out from
 * SIGILL on a CPU without keys), against the calls that do the same
 * through the glibc layer (pkey_get, pkey_set), in the same run.
 *
 *   bench_trap [ROUNDS]
 *
 * Each write flips one key between open and write-disabled, so every
 * round changes rights (one mprotect on the emulation either way).  On
 * hardware keys the instructions run natively and the rows show that.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pkeys.h>
#include <pkeys/glibc.h>

#if defined(__x86_64__)
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint32_t rd(void)
{
	uint32_t a, d;

	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(a), "=d"(d) : "c"(0));
	return a;
}

static void wr(uint32_t v)
{
	__asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(v), "c"(0), "d"(0)
			 : "memory");
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	int k = pkey_alloc(0, 0);
	double t, t_get, t_rd, t_set, t_wr;
	volatile uint32_t sink = 0;
	void *page = NULL;

	if (k < 0 || n <= 0) {
		fprintf(stderr, "bench_trap: pkey_alloc failed or bad ROUNDS\n");
		return 1;
	}
	/* A page with the key, so that each change costs what it costs. */
	if (pk_mmap(&page, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, k)) {
		fprintf(stderr, "bench_trap: pk_mmap failed\n");
		return 1;
	}
	t = now();
	for (long i = 0; i < n; i++)
		sink += (uint32_t)pkey_get(k);
	t_get = (now() - t) / (double)n * 1e6;
	t = now();
	for (long i = 0; i < n; i++)
		sink += rd();
	t_rd = (now() - t) / (double)n * 1e6;
	t = now();
	for (long i = 0; i < n; i++)
		pkey_set(k, (i & 1) ? 0 : PKEY_DISABLE_WRITE);
	t_set = (now() - t) / (double)n * 1e6;
	uint32_t open = rd() & ~(3u << (2 * k));
	t = now();
	for (long i = 0; i < n; i++)
		wr((i & 1) ? open : open | (2u << (2 * k)));
	t_wr = (now() - t) / (double)n * 1e6;
	(void)sink;
	printf("bench_trap: backend %s, %ld rounds\n", pk_backend_name(), n);
	printf("  %-32s %9.3f us\n", "pkey_get (the layer's call)", t_get);
	printf("  %-32s %9.3f us  (%.1fx)\n", "RDPKRU in the program", t_rd,
	       t_rd / t_get);
	printf("  %-32s %9.3f us\n", "pkey_set (the layer's call)", t_set);
	printf("  %-32s %9.3f us  (%.1fx)\n", "WRPKRU in the program", t_wr,
	       t_wr / t_set);
	return 0;
}
#else
int main(void)
{
	printf("bench_trap: x86-64 only\n");
	return 0;
}
#endif
