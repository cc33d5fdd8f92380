/* SPDX-License-Identifier: MIT */
/*
 * Whether a heap should keep a flush sentinel: one page of its keyed
 * range, far from its blocks, mapped by a read and never written.
 *
 * Why.  Closing a key on the emulation is mprotect(2) over the heap's
 * range, and the kernel then invalidates the TLB entries of the pages
 * whose protection changed.  On x86 Linux invalidates page by page
 * (INVLPG) when the changed pages span at most 33 pages
 * (tlb_single_page_flush_ceiling) and flushes the whole TLB above that.
 * On bare metal INVLPG is cheap and that choice is right.  In some
 * virtual machines each page invalidation costs microseconds (this
 * project's machines: about 4 us a page, against 7 us for a whole
 * flush), so a heap of 32 pages pays 130 us to close where a full flush
 * would cost 15.  A present page 33 pages beyond the heap's last page
 * stretches the changed span past the ceiling and turns the page-by-page
 * invalidation into one full flush.  Reading that page maps it without
 * writing it: the kernel's shared zero page, or one page of memory where
 * the kernel counts or allocates it (this project's machines do: a heap
 * with a sentinel is 4 KiB bigger), plus a page-table page at most.
 *
 * Whether it pays is measured once per process, the first time a heap
 * grows far enough to care: the same close and reopen over 32 resident
 * pages, without and with a sentinel.  The sentinel is chosen only when
 * it at least halves the time and saves 10 us a round, so that on a
 * machine where INVLPG is cheap the process keeps the kernel's choice
 * (a full flush also drops the process's other TLB entries, a cost this
 * measurement does not see; 10 us of savings outweighs refilling them).
 * PKEYS_HEAP_SENTINEL=0 or =1 in the environment skips the measurement.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "heap_flush.h"
#include "os/sys.h"

#define PROBE_PAGES 32
#define PROBE_SPAN  (PROBE_PAGES + HEAP_SENTINEL_GAP + 1)
#define ROUNDS	    5

static int verdict;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Raw system calls: the kernel's cost, not the library's bookkeeping. */
static int raw_mprotect(void *p, size_t len, int prot)
{
	return (int)pk__syscall(SYS_mprotect, p, len, prot);
}

/* The best close-and-reopen round over [p, p+len), in ns; 0 on error. */
static uint64_t best_round(char *p, size_t len)
{
	uint64_t best = UINT64_MAX;

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t = now_ns();

		if (raw_mprotect(p, len, PROT_NONE) ||
		    raw_mprotect(p, len, PROT_READ | PROT_WRITE))
			return 0;
		t = now_ns() - t;
		if (t < best)
			best = t;
	}
	return best;
}

static void measure(void)
{
	const char *env = secure_getenv("PKEYS_HEAP_SENTINEL");
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = PROBE_SPAN * page;
	uint64_t without, with;
	char *p;

	if (env && (env[0] == '0' || env[0] == '1') && env[1] == '\0') {
		verdict = env[0] == '1';
		return;
	}
	/* Never in a persistent assignment: a closed key would fault here. */
	p = pk__map_own(len, PROT_READ | PROT_WRITE, 0);
	if (p == MAP_FAILED)
		return;
	for (size_t i = 0; i < PROBE_PAGES; i++)
		p[i * page] = 1;
	without = best_round(p, len);
	(void)*(volatile char *)(p + (PROBE_SPAN - 1) * page);
	with = best_round(p, len);
	munmap(p, len);
	verdict = without && with && with * 2 <= without &&
		  without - with >= 10000;
}

int pk__heap_sentinel_pays(void)
{
	pthread_once(&once, measure);
	return verdict;
}
