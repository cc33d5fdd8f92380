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
#include <sched.h>
#include <stdint.h>
#include <time.h>

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

/*
 * A thread that reads, in a loop, a page another thread keeps closed
 * (in the exact mode each read is a step, which stops every other
 * thread) leaves the others at least a third of the time.  Measured as
 * the work the main thread gets done in 300 ms beside it, against the
 * same alone just before; the check allows for a busy machine.
 */
static int reads_stop;
static long reads_done;

static void *steady_reads(void *arg)
{
	(void)arg;
	CHECK_EQ(pk_set(key, 0), 0);
	while (!__atomic_load_n(&reads_stop, __ATOMIC_RELAXED)) {
		(void)*(volatile char *)pages;
		__atomic_add_fetch(&reads_done, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Rounds of plain work done in secs of wall time. */
static long work_for(double secs)
{
	volatile unsigned long sink = 0;
	double end = now_s() + secs;
	long rounds = 0;

	while (now_s() < end) {
		for (int i = 0; i < 1000; i++)
			sink += (unsigned long)i;
		rounds++;
	}
	return rounds;
}

void test_exact_stepper_fair(void)
{
	pthread_t t;
	long alone, beside;

	pages = pkt_map(1, RW);
	key = pkt_key(PK_DISABLE_ACCESS);
	CHECK_EQ(pk_mprotect(pages, pkt_page(), RW, key), 0);
	alone = work_for(0.3);
	CHECK_EQ(pthread_create(&t, NULL, steady_reads, NULL), 0);
	while (!__atomic_load_n(&reads_done, __ATOMIC_RELAXED))
		sched_yield();
	beside = work_for(0.3);
	__atomic_store_n(&reads_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(reads_done > 0);
	if (beside * 5 < alone)
		pkt_fail(__FILE__, __LINE__,
			 "the main thread did %ld rounds of work beside the "
			 "reading thread, %ld alone",
			 beside, alone);
	if (pkt_per_thread())
		EXPECT_FAULT(pages, R, key);
}
