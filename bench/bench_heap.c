/* SPDX-License-Identifier: MIT */
/*
 * bench_heap: N secrets of 32 bytes in a pk_heap on the backend at hand
 * (with its defaults: guard pages and a canary after every block, as
 * libsodium has; and "lean", with PK_HEAP_NO_GUARD_PAGES and
 * PK_HEAP_NO_CANARIES), versus libsodium's guarded allocations (sodium_malloc, one allocation
 * per secret between guard pages, closed and opened one at a time with
 * sodium_mprotect_noaccess/readwrite), versus glibc malloc (allocation
 * and memory only: it cannot close anything).
 *
 *   bench_heap [N...]          (default: 4096 65536)
 *
 * Each cell runs in a fresh child process, so that one allocator's
 * memory never serves another and the resident-memory delta is its own:
 *   alloc   ns per call, the best of several passes of N allocations
 *           (pass 1 on a fresh heap, later passes after freeing all);
 *   free    ns per call, likewise, with access open (pk_heap wipes);
 *   memory  resident bytes per secret: anonymous resident memory
 *           (/proc/self/smaps_rollup) after allocating and writing all
 *           N secrets, minus the same before the allocator's first
 *           allocation, divided by N (the allocator's metadata counts);
 *   close+open  us to close access to all N secrets and reopen it (mean
 *           of several rounds): pk_set twice for pk_heap, one
 *           sodium_mprotect call per secret each way for libsodium.
 * Built without libsodium (no libsodium-dev at configure time), the
 * libsodium rows say so.
 *
 * Last, for reading the emulation's figures: what the kernel charges
 * here for closing and reopening resident pages with two raw mprotect
 * system calls, for one page and for as many pages as N secrets fill.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pkeys.h>
#include <pkeys/heap.h>
#ifdef HAVE_SODIUM
#include <sodium.h>
#endif

enum { PKHEAP, PKHEAP_LEAN, SODIUM, MALLOC, NALLOC };
static const char *const names[NALLOC] = {"pk_heap", "pk_heap lean",
					  "sodium_malloc", "malloc"};

struct result {
	int ok;
	double alloc_ns, free_ns, bytes_per_secret, close_open_us;
	char note[160];
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Anonymous resident memory, from /proc/self/smaps_rollup, which walks
 * the page tables: exact, unlike statm, whose counters a kernel may
 * update in batches, and blind to the allocator's code paged in at its
 * first calls.
 */
static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Anonymous: %ld kB", &kb) == 1)
			break;
	if (!f || kb < 0)
		exit(2);
	fclose(f);
	return kb * 1024;
}

static double min_d(double a, double b)
{
	return a < b ? a : b;
}

/* One allocator behind three calls, so every cell runs the same loop. */
struct ops {
	int (*alloc)(void *ctx, void **p);
	void (*release)(void *ctx, void *p);
	int (*close_open)(void *ctx, void **p, size_t n); /* NULL: none */
	void *ctx;
};

static int heap_alloc(void *ctx, void **p)
{
	return pk_heap_alloc(ctx, 32, p);
}

static void heap_release(void *ctx, void *p)
{
	pk_heap_free(ctx, p);
}

static int heap_key;

static int heap_close_open(void *ctx, void **p, size_t n)
{
	int rc = pk_set(heap_key, PK_DISABLE_ACCESS);

	return rc ? rc : pk_set(heap_key, 0);
}

static int malloc_alloc(void *ctx, void **p)
{
	return (*p = malloc(32)) ? 0 : -ENOMEM;
}

static void malloc_release(void *ctx, void *p)
{
	free(p);
}

#ifdef HAVE_SODIUM
static int sodium_alloc(void *ctx, void **p)
{
	return (*p = sodium_malloc(32)) ? 0 : -errno;
}

static void sodium_release(void *ctx, void *p)
{
	sodium_free(p);
}

static int sodium_close_open(void *ctx, void **p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (sodium_mprotect_noaccess(p[i]))
			return -errno;
	for (size_t i = 0; i < n; i++)
		if (sodium_mprotect_readwrite(p[i]))
			return -errno;
	return 0;
}
#endif

static void run(const struct ops *o, size_t n, int passes, int rounds,
		struct result *r)
{
	void **p = calloc(n, sizeof(*p));
	double t, best_alloc = 1e30, best_free = 1e30;
	long rss0;
	int rc;

	if (!p)
		exit(2);
	/*
	 * The pointer array is resident before the first measurement (not
	 * zeros: a compiler may drop a memset of zeros after calloc).
	 */
	memset(p, 0xff, n * sizeof(*p));
	rss0 = rss_bytes();
	for (int pass = 0; pass < passes; pass++) {
		t = now();
		for (size_t i = 0; i < n; i++)
			if ((rc = o->alloc(o->ctx, &p[i])) != 0) {
				snprintf(r->note, sizeof(r->note),
					 "allocation %zu failed: %s", i + 1,
					 strerror(-rc));
				return;
			}
		best_alloc = min_d(best_alloc, now() - t);
		if (pass == 0) {
			for (size_t i = 0; i < n; i++)
				memset(p[i], (int)i, 32);
			r->bytes_per_secret =
				(double)(rss_bytes() - rss0) / (double)n;
			if (o->close_open) {
				t = now();
				for (int k = 0; k < rounds; k++)
					if ((rc = o->close_open(o->ctx, p, n))) {
						snprintf(r->note, sizeof(r->note),
							 "close/open failed: %s",
							 strerror(-rc));
						return;
					}
				r->close_open_us = (now() - t) / rounds * 1e6;
			}
		}
		t = now();
		for (size_t i = 0; i < n; i++)
			o->release(o->ctx, p[i]);
		best_free = min_d(best_free, now() - t);
	}
	r->alloc_ns = best_alloc / (double)n * 1e9;
	r->free_ns = best_free / (double)n * 1e9;
	r->ok = 1;
	free(p);
}

static void child(int which, size_t n, struct result *r)
{
	struct ops o = {0};
	int rc;

	switch (which) {
	case PKHEAP:
	case PKHEAP_LEAN: {
		struct pk_heap *h;
		struct pk_heap_options opt = {.reserve = n * 64 + (1 << 20)};

		if (which == PKHEAP_LEAN)
			opt.flags = PK_HEAP_NO_GUARD_PAGES | PK_HEAP_NO_CANARIES;
		heap_key = pk_key_alloc(0, 0);
		if (heap_key < 0 || (rc = pk_heap_create(heap_key, &opt, &h))) {
			snprintf(r->note, sizeof(r->note), "no heap: %s",
				 strerror(heap_key < 0 ? -heap_key : -rc));
			return;
		}
		o = (struct ops){heap_alloc, heap_release, heap_close_open, h};
		run(&o, n, 7, 2000, r);
		return;
	}
	case SODIUM:
#ifdef HAVE_SODIUM
		if (sodium_init() < 0) {
			snprintf(r->note, sizeof(r->note), "sodium_init failed");
			return;
		}
		o = (struct ops){sodium_alloc, sodium_release, sodium_close_open,
				 NULL};
		run(&o, n, n <= 8192 ? 5 : 2, n <= 8192 ? 20 : 3, r);
#else
		snprintf(r->note, sizeof(r->note),
			 "absent: built without libsodium (libsodium-dev)");
#endif
		return;
	default:
		o = (struct ops){malloc_alloc, malloc_release, NULL, NULL};
		run(&o, n, 7, 0, r);
	}
}

static struct result measure(int which, size_t n)
{
	struct result r = {0};
	int fds[2], status;
	pid_t pid;

	if (pipe(fds))
		exit(2);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(fds[0]);
		child(which, n, &r);
		if (write(fds[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &r, sizeof(r)) != sizeof(r))
		r.ok = -1;
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (r.ok < 0) {
		r.ok = 0;
		snprintf(r.note, sizeof(r.note), "the child died (%s %d)",
			 WIFSIGNALED(status) ? "signal" : "exit",
			 WIFSIGNALED(status) ? WTERMSIG(status)
					     : WEXITSTATUS(status));
	}
	return r;
}

/* us per close+open of `pages` resident pages, by raw system calls. */
static double mprotect_round(size_t pages)
{
	size_t len = pages * (size_t)sysconf(_SC_PAGESIZE);
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rounds = 2000;
	double t;

	if (p == MAP_FAILED)
		return -1;
	memset(p, 1, len);
	t = now();
	for (int i = 0; i < rounds; i++) {
		syscall(SYS_mprotect, p, len, PROT_NONE);
		syscall(SYS_mprotect, p, len, PROT_READ | PROT_WRITE);
	}
	t = (now() - t) / rounds * 1e6;
	munmap(p, len);
	return t;
}

static void cell(double v, int ok, const char *fmt)
{
	if (ok)
		printf(fmt, v);
	else
		printf(" | -");
}

int main(int argc, char **argv)
{
	size_t counts[8] = {4096, 65536}, ncounts = 2;
	struct result res[8][NALLOC];
	int rc;

	if (argc > 1) {
		ncounts = 0;
		for (int i = 1; i < argc && ncounts < 8; i++)
			counts[ncounts++] = strtoul(argv[i], NULL, 10);
	}
	if ((rc = pk_init()) != 0) {
		fprintf(stderr, "pk_init: %s (%s)\n", strerror(-rc),
			pk_backend_reason());
		return 1;
	}
	printf("backend: %s (%s)\n\n", pk_backend_name(), pk_backend_reason());
	printf("| secrets | allocator | alloc, ns | free, ns | memory, B/secret "
	       "| close+open all, us |\n");
	printf("|---:|---|---:|---:|---:|---:|\n");
	for (size_t c = 0; c < ncounts; c++)
		for (int a = 0; a < NALLOC; a++) {
			struct result *r = &res[c][a];
			*r = measure(a, counts[c]);
			printf("| %zu | %s", counts[c], names[a]);
			cell(r->alloc_ns, r->ok, " | %.0f");
			cell(r->free_ns, r->ok, " | %.0f");
			cell(r->bytes_per_secret, r->ok, " | %.1f");
			cell(r->close_open_us, r->ok && a != MALLOC, " | %.1f");
			printf(" |%s%s\n", r->note[0] ? " " : "", r->note);
		}
	printf("\n");
	for (size_t c = 0; c < ncounts; c++) {
		const struct result *h = &res[c][PKHEAP], *s = &res[c][SODIUM],
				    *m = &res[c][MALLOC], *l = &res[c][PKHEAP_LEAN];
		printf("%zu secrets:", counts[c]);
		if (h->ok && s->ok)
			printf(" close+open %.0fx faster than libsodium;"
			       " alloc %.0fx faster than sodium_malloc;",
			       s->close_open_us / h->close_open_us,
			       s->alloc_ns / h->alloc_ns);
		else
			printf(" no libsodium comparison (%s);",
			       s->note[0] ? s->note : "failed");
		if (h->ok && m->ok)
			printf(" alloc %.2fx malloc's time", h->alloc_ns / m->alloc_ns);
		if (l->ok && m->ok)
			printf(" (lean: %.2fx)", l->alloc_ns / m->alloc_ns);
		printf("\n");
	}
	printf("\nmprotect(2) close+open of resident pages here: 1 page %.1f us",
	       mprotect_round(1));
	for (size_t c = 0; c < ncounts; c++) {
		size_t pages = (counts[c] * 32 + 4095) / 4096;
		printf(", %zu pages %.1f us", pages, mprotect_round(pages));
	}
	printf("\n");
	return 0;
}
