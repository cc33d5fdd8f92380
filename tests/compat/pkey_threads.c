/* SPDX-License-Identifier: MIT */
/*
 * Threads and signals with protection keys as Linux gives them, checked
 * by a program written for glibc's calls alone (no pkeys header, no
 * libpkeys).  tests/compat/unmodified.sh runs it plainly on hardware
 * keys (the reference) and under `pkeys run --exact` on the emulation,
 * with the same expectations:
 *
 *   - a thread started before the key exists holds it access-disabled:
 *     its read of the key's page faults (SEGV_PKUERR, si_pkey, si_addr)
 *     while the main thread, which holds the key, writes that page;
 *   - a thread started later inherits its creator's rights;
 *   - a signal handler starts with the kernel's entry rights (x86: every
 *     key but 0 access-disabled; POWER: the interrupted rights), and on
 *     x86 the interrupted rights come back when it returns;
 *   - pkey_free and pkey_alloc of the same number leave the rights other
 *     threads hold for that number as they were.
 *
 * Prints PASS and exits 0 when every check held; 1 when one failed;
 * 2 when pkey_alloc fails (no keys here).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "prog_check.h"

static int key;
static char *page;
static pthread_barrier_t bar;

static __thread sigjmp_buf jump;
static __thread volatile int got_code, got_pkey;
static __thread void *volatile got_addr;

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	got_code = info->si_code;
	got_pkey = info->si_pkey;
	got_addr = info->si_addr;
	siglongjmp(jump, 1);
}

/* 1 when the access faulted as a key fault of key at p, 0 when it went
 * through, -1 for any other fault. */
static int key_fault(char *p, int write)
{
	int saved = pkey_get(key);

	if (sigsetjmp(jump, 1) == 0) {
		if (write)
			*(volatile char *)p = 1;
		else
			(void)*(volatile char *)p;
		return 0;
	}
	/* The handler's rights stay after siglongjmp (x86): put ours back. */
	pkey_set(key, (unsigned)saved);
	return got_code == 4 && got_pkey == key && got_addr == p ? 1 : -1;
}

static void *early(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&bar); /* 1: the key exists */
	CHECK(pkey_get(key) == PKEY_DISABLE_ACCESS);
	CHECK(key_fault(page, 0) == 1);
	CHECK(key_fault(page + 100, 1) == 1);
	pthread_barrier_wait(&bar); /* 2: main writes while we lack it */
	pthread_barrier_wait(&bar); /* 3 */
	CHECK(key_fault(page, 0) == 1);
	pthread_barrier_wait(&bar); /* 4: main freed and took the number */
	CHECK(pkey_get(key) == PKEY_DISABLE_ACCESS);
	return NULL;
}

static void *late(void *arg)
{
	(void)arg;
	CHECK(pkey_get(key) == PKEY_DISABLE_WRITE);
	CHECK(key_fault(page, 0) == 0);
	CHECK(key_fault(page, 1) == 1);
	return NULL;
}

static volatile int in_handler = -1;

static void on_usr1(int sig)
{
	(void)sig;
	in_handler = pkey_get(key);
	pkey_set(key, PKEY_DISABLE_WRITE);
}

int main(void)
{
	struct sigaction sa;
	pthread_t t1, t2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	pthread_barrier_init(&bar, NULL, 2);
	pthread_create(&t1, NULL, early, NULL);
	key = pkey_alloc(0, 0);
	if (key < 0) {
		printf("pkey_alloc: %s\n", strerror(errno));
		return 2;
	}
	page = mmap(NULL, 4 * 65536, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(page != MAP_FAILED);
	CHECK(pkey_mprotect(page, 4 * 65536, PROT_READ | PROT_WRITE, key) == 0);
	pthread_barrier_wait(&bar); /* 1 */
	pthread_barrier_wait(&bar); /* 2 */
	/* The early thread lacks the key and is alive: ours to write. */
	memset(page, 0x5a, 3 * 65536);
	CHECK(page[65536 + 17] == 0x5a);
	CHECK(key_fault(page + 4096, 1) == 0);
	printf("PASS threads that disagree\n");
	pthread_barrier_wait(&bar); /* 3 */

	CHECK(pkey_set(key, PKEY_DISABLE_WRITE) == 0);
	pthread_create(&t2, NULL, late, NULL);
	pthread_join(t2, NULL);
	printf("PASS a new thread inherits its creator's rights\n");

	CHECK(pkey_set(key, 0) == 0);
	signal(SIGUSR1, on_usr1);
	raise(SIGUSR1);
#if defined(__x86_64__)
	CHECK(in_handler == PKEY_DISABLE_ACCESS);
	CHECK(pkey_get(key) == 0);
#else
	CHECK(in_handler == 0);
	CHECK(pkey_get(key) == PKEY_DISABLE_WRITE);
	CHECK(pkey_set(key, 0) == 0);
#endif
	printf("PASS a signal handler's rights\n");

	/* The number comes back to us; the early thread's bits stay. */
	CHECK(pkey_free(key) == 0);
	CHECK(pkey_alloc(0, 0) == key);
	pthread_barrier_wait(&bar); /* 4 */
	pthread_join(t1, NULL);
	CHECK(pkey_get(key) == 0);
	printf("PASS rights across pkey_free and pkey_alloc\n");
	if (failures) {
		printf("%d check(s) failed\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
