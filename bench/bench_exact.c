/* SPDX-License-Identifier: MIT */
/*
 * bench_exact: what the emulation's exact mode (PKEYS_EMU=exact) costs
 * an access that another thread's narrower rights keep closed.
 *
 *   PKEYS_BACKEND=emu PKEYS_EMU=exact bench_exact [ACCESSES] [THREADS]
 *
 * The main thread holds a key open; THREADS-1 other threads (default 1)
 * hold it closed and wait in pthread_join-like sleep.  Each access reads
 * one keyed byte and then makes a system call (getppid), which ends the
 * single step, so every access pays the whole price: a stop of the
 * other threads, two mprotect calls, a SIGSEGV and a SIGTRAP.  The
 * baseline is the same loop over a plain page, in the same run.  In the
 * default mode (or on hardware keys) the two rows come out alike.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <pkeys.h>

static volatile int stop;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *closed_thread(void *arg)
{
	int key = *(int *)arg;

	pk_set(key, PK_DISABLE_ACCESS);
	while (!stop)
		usleep(1000);
	return NULL;
}

static double loop(volatile char *p, long n)
{
	double t0 = now();
	long sum = 0;

	for (long i = 0; i < n; i++) {
		sum += p[i & 63];
		syscall(SYS_getppid);
	}
	(void)sum;
	return (now() - t0) / (double)n * 1e6;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *plain, *keyed;
	pthread_t *t;
	int key;
	const char *mode = getenv("PKEYS_EMU");

	if (n <= 0 || threads < 1) {
		fprintf(stderr, "usage: bench_exact [ACCESSES] [THREADS]\n");
		return 2;
	}
	key = pk_key_alloc(0, 0);
	if (key < 0) {
		fprintf(stderr, "bench_exact: pk_key_alloc: %s\n", strerror(-key));
		return 1;
	}
	plain = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	keyed = mmap(NULL, pg, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (plain == MAP_FAILED || keyed == MAP_FAILED ||
	    pk_mprotect(keyed, pg, PROT_READ | PROT_WRITE, key)) {
		perror("bench_exact: mmap");
		return 1;
	}
	memset(plain, 1, pg);
	memset(keyed, 1, pg);
	t = calloc((size_t)threads, sizeof(*t));
	for (int i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, closed_thread, &key);
	usleep(20000);
	double base = loop(plain, n), cost = loop(keyed, n);

	printf("bench_exact: backend %s, mode %s, %d thread(s), %ld accesses\n",
	       pk_backend_name(), mode && *mode ? mode : "default", threads, n);
	printf("  %-34s %10.2f us\n", "read + getppid, plain page", base);
	printf("  %-34s %10.2f us  (%.1fx)\n", "read + getppid, keyed page", cost,
	       cost / base);
	stop = 1;
	for (int i = 1; i < threads; i++)
		pthread_join(t[i], NULL);
	return 0;
}
