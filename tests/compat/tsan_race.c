/* SPDX-License-Identifier: MIT */
/*
 * A ThreadSanitizer-built program run under `pkeys run` (make check,
 * "preload-tsan"): it keys a page through glibc's pkey calls, then
 * starts threads that race on a counter, so that TSan reports while
 * other threads are being created.  Its report reads the program's
 * symbols and unmaps what it read while a pthread_create waits for
 * TSan's thread registry: the library must not make either wait for
 * the other.  Prints "done" and exits with TSan's 66 when it ran
 * through.
 */
#include <pthread.h>
#include <stdio.h>
#include <sys/mman.h>

static int shared;

static void *work(void *arg)
{
	for (int i = 0; i < 1000; i++)
		shared++; /* the race TSan reports */
	return arg;
}

int main(void)
{
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int key = pkey_alloc(0, 0);

	if (p == MAP_FAILED || key < 0 ||
	    pkey_mprotect(p, 4096, PROT_READ | PROT_WRITE, key)) {
		perror("tsan_race: keying a page");
		return 2;
	}
	for (int round = 0; round < 50; round++) {
		pthread_t t[4];

		for (int i = 0; i < 4; i++)
			pthread_create(&t[i], NULL, work, NULL);
		for (int i = 0; i < 4; i++)
			pthread_join(t[i], NULL);
	}
	printf("done\n");
	return 0;
}
