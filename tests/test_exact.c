/* SPDX-License-Identifier: MIT */
/*
 * Two threads that disagree about one key at the same moment.  Where
 * rights are per thread (hardware keys, the emulation's exact mode) the
 * thread without rights faults, precisely, while the one with rights
 * reads and writes, also with instructions that cross pages and string
 * instructions over many; in the emulation's default mode the pages
 * stay open while any thread holds the rights.
 */
#include <pthread.h>
#include <stdint.h>

#include "pktest.h"

#define RW (PROT_READ | PROT_WRITE)

static int key;
static char *pages;
static pthread_barrier_t bar;

static void *without(void *arg)
{
	(void)arg;
	CHECK_EQ(pk_set(key, PK_DISABLE_ACCESS), 0);
	pthread_barrier_wait(&bar); /* 1: closed here, open in main */
	pthread_barrier_wait(&bar); /* 2: main has written */
	if (pkt_per_thread()) {
		EXPECT_FAULT(pages, R, key);
		EXPECT_FAULT(pages + 2 * pkt_page() + 5, W, key);
	} else {
		EXPECT_OK(pages, R);
	}
	CHECK_EQ(pk_get(key), PK_DISABLE_ACCESS);
	pthread_barrier_wait(&bar); /* 3: main writes again */
	pthread_barrier_wait(&bar); /* 4 */
	return NULL;
}

/* A string instruction over n bytes (x86: one trap per iteration when
 * single-stepped); plain memset elsewhere. */
static void fill(char *p, int c, size_t n)
{
#if defined(__x86_64__)
	__asm__ volatile("rep stosb"
			 : "+D"(p), "+c"(n)
			 : "a"(c)
			 : "memory");
#else
	memset(p, c, n);
#endif
}

void test_exact_threads_disagree(void)
{
	size_t pg = pkt_page();
	pthread_t t;
	uint64_t v;

	pages = pkt_map(3, RW);
	key = pkt_key(0);
	CHECK_EQ(pk_mprotect(pages, 3 * pg, RW, key), 0);
	CHECK_EQ(pthread_barrier_init(&bar, NULL, 2), 0);
	CHECK_EQ(pthread_create(&t, NULL, without, NULL), 0);
	pthread_barrier_wait(&bar); /* 1 */
	/* Main holds the key; the other thread does not, and is alive. */
	EXPECT_OK(pages, W);
	fill(pages, 0x5a, 3 * pg);
	for (size_t i = 0; i < 3 * pg; i += 997)
		CHECK_EQ(pages[i], 0x5a);
	/* One unaligned store across the first page boundary. */
	v = 0x1122334455667788ull;
	memcpy(pages + pg - 3, &v, sizeof(v));
	v = 0;
	memcpy(&v, pages + pg - 3, sizeof(v));
	CHECK_EQ(v, 0x1122334455667788ull);
	pthread_barrier_wait(&bar); /* 2 */
	pthread_barrier_wait(&bar); /* 3 */
	pages[2 * pg] = 7;
	CHECK_EQ(pages[2 * pg], 7);
	pthread_barrier_wait(&bar); /* 4 */
	CHECK_EQ(pthread_join(t, NULL), 0);
	/* Alone again: no thread lacks the key. */
	EXPECT_OK(pages + pg, W);
	CHECK_EQ(pk_set(key, PK_DISABLE_WRITE), 0);
	EXPECT_FAULT(pages + pg, W, key);
	EXPECT_OK(pages + pg, R);
	pthread_barrier_destroy(&bar);
}
