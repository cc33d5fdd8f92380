/* SPDX-License-Identifier: MIT */
/*
 * bench_threads: the cost of the calls that deal with rights.
 *
 *   bench_threads
 *
 * pk_set on a key that holds a hardware key (on the emulation: a key with
 * one page, whose union of rights changes each call), pk_set on a key
 * that must move in (hardware backend: more keys in use than the
 * hardware has, touched round robin), pk_domain_enter + leave of a
 * 4-key domain, and pk_set_all with 2, 8 and 32 threads alive (waiting
 * in read(2)).  Beside pk_set_all, its baseline in the same state: one
 * mprotect(2) of a page of the program's own, which is what the call
 * makes on the emulation (the key's union changes each call); in a
 * process with threads the kernel's mprotect pays for the other CPUs'
 * TLBs, whatever the library does.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
 * A key over one page the program has written, as pages in use are: a
 * change of protection then makes the kernel flush the page from the
 * TLBs, as it does for the baseline's page.
 */
static int key_with_page(void)
{
	void *p = NULL;
	int k = pk_key_alloc(0, 0);

	if (k < 0 || pk_mmap(&p, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, k)) {
		fprintf(stderr, "key setup failed\n");
		exit(1);
	}
	*(volatile char *)p = 1;
	if (pk_set_all(k, PK_DISABLE_ACCESS)) {
		fprintf(stderr, "key setup failed\n");
		exit(1);
	}
	return k;
}

/*
 * The other threads wait in read(2) on a pipe until its write end
 * closes: alive (on hardware each must answer pk_set_all's signal) but
 * using no CPU, so that the figures are the call's and not the
 * scheduler's (threads waking every millisecond cost a 2-core machine
 * more than the call itself).
 */
static int idle_pipe[2];

static void *idle(void *arg)
{
	char c;

	(void)arg;
	while (read(idle_pipe[0], &c, 1) != 0)
		;
	return NULL;
}

int main(void)
{
	enum { MOVING = 40 };
	int k, moving[MOVING], dkeys[4];
	long n = 200000;
	double t0;

	if (pk_init()) {
		fprintf(stderr, "pk_init: %s\n", pk_backend_reason());
		return 1;
	}
	printf("backend: %s\n", pk_backend_name());
	printf("%-34s %12s\n", "call", "us/call");

	k = key_with_page();
	t0 = now();
	for (long i = 0; i < n; i++)
		pk_set(k, i & 1 ? PK_DISABLE_ACCESS : 0);
	printf("%-34s %12.3f\n", "pk_set, resident key", (now() - t0) / n * 1e6);

	for (int i = 0; i < MOVING; i++)
		moving[i] = key_with_page();
	n = 4000;
	t0 = now();
	for (long i = 0; i < n; i++)
		pk_set(moving[i % MOVING], 0);
	printf("%-34s %12.3f\n", "pk_set, key moving in (40 keys)",
	       (now() - t0) / n * 1e6);
	for (int i = 0; i < MOVING; i++)
		pk_set(moving[i], PK_DISABLE_ACCESS);

	for (int i = 0; i < 4; i++)
		dkeys[i] = key_with_page();
	struct pk_domain_entry d[4] = {{dkeys[0], 0}, {dkeys[1], 0},
				      {dkeys[2], PK_DISABLE_WRITE}, {dkeys[3], 0}};
	struct pk_domain_saved saved;
	n = 100000;
	t0 = now();
	for (long i = 0; i < n; i++) {
		pk_domain_enter(d, 4, &saved);
		pk_domain_leave(&saved);
	}
	printf("%-34s %12.3f\n", "domain enter+leave, 4 keys",
	       (now() - t0) / n * 1e6);

	static const int counts[] = {2, 8, 32};
	pthread_t th[32];
	int alive = 1;
	long pg = sysconf(_SC_PAGESIZE);
	char *plain = mmap(NULL, 3 * (size_t)pg, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (plain == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	plain += pg; /* a page in the middle, as the key's */
	plain[0] = 1;

	/*
	 * On hardware the 44 keys since have pushed k out of its hardware
	 * key; pk_set brings it back, so that pk_set_all is measured on a
	 * key holding one (an evicted key's pk_set_all is an mprotect, as
	 * on the emulation, and signals no thread).
	 */
	if (pk_set(k, PK_DISABLE_ACCESS)) {
		fprintf(stderr, "pk_set failed\n");
		return 1;
	}
	if (pipe(idle_pipe)) {
		perror("pipe");
		return 1;
	}
	for (int c = 0; c < 3; c++) {
		while (alive < counts[c])
			pthread_create(&th[alive++ - 1], NULL, idle, NULL);
		n = 500;
		t0 = now();
		for (long i = 0; i < n; i++)
			pk_set_all(k, i & 1 ? PK_DISABLE_ACCESS : PK_DISABLE_WRITE);
		char label[64];
		double us = (now() - t0) / n * 1e6, base;

		t0 = now();
		for (long i = 0; i < n; i++)
			mprotect(plain, (size_t)pg,
				 i & 1 ? PROT_NONE : PROT_READ);
		base = (now() - t0) / n * 1e6;
		snprintf(label, sizeof(label), "pk_set_all, %d threads", counts[c]);
		printf("%-34s %12.3f  (%.3f a thread; one mprotect %.3f)\n",
		       label, us, us / counts[c], base);
	}
	close(idle_pipe[1]);
	for (int i = 0; i < alive - 1; i++)
		pthread_join(th[i], NULL);
	return 0;
}
