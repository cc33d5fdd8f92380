/* SPDX-License-Identifier: MIT */
/*
 * The fuzzer's episode: the arena, the byte source, the log of calls,
 * and the check of the whole state after every call:
 *   - pk_key_of of a random address in every page of the arena;
 *   - pk_get of every allocated key and of one number not allocated;
 *   - pk_keys_available: 1023 less the keys allocated;
 *   - two accesses, read or write, to random pages, inside pk_try: an
 *     access the model allows must go through (and read the value last
 *     written there), one it forbids must stop with a fault that names
 *     the address, the key and the kind of access.
 * At the end every key must be free again and every key available.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pkeys.h>

#include "internal.h"

/*
 * Far below where the kernel places mappings, so that none lands in a
 * hole of the arena (page-aligned for 64 KiB pages too).  Under
 * ThreadSanitizer, inside the low range it leaves to the program.
 */
#if defined(__SANITIZE_THREAD__)
#define ARENA ((uintptr_t)0x004000000000)
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ARENA ((uintptr_t)0x004000000000)
#endif
#endif
#ifndef ARENA
#define ARENA ((uintptr_t)0x200000000000)
#endif

struct pkf_model pkf_m;
char *pkf_base;
size_t pkf_pg;
struct pkf_stats *pkf_st;

static struct pkf_src *src;
static long step;
static int avail0;

enum { LOG = 40 };
static char calls[LOG][200];
static long ncalls;

unsigned pkf_pick(unsigned n)
{
	uint64_t v = 0;

	if (n <= 1)
		return 0;
	if (src->data) {
		for (int i = 0; i < (n > 256 ? 2 : 1); i++) {
			if (src->pos < src->len)
				v = v << 8 | src->data[src->pos++];
			else
				src->ended = 1;
		}
		return (unsigned)(v % n);
	}
	/* xorshift64* */
	src->rng ^= src->rng >> 12;
	src->rng ^= src->rng << 25;
	src->rng ^= src->rng >> 27;
	v = src->rng * 0x2545f4914f6cdd1dull;
	return (unsigned)((v >> 32) % n);
}

void pkf_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(calls[ncalls++ % LOG], sizeof(calls[0]), fmt, ap);
	va_end(ap);
}

static void print_log(int fd)
{
	long first = ncalls > LOG ? ncalls - LOG : 0;

	dprintf(fd, "pkfuzz: the last calls (step %ld, %s backend):\n", step,
		pk_backend_name());
	for (long i = first; i < ncalls; i++)
		dprintf(fd, "  %s\n", calls[i % LOG]);
}

static void *nothing(void *arg)
{
	return arg;
}

/*
 * The threads alive now.  A joined thread may stay listed for a moment
 * (pthread_join returns before the kernel releases the task), as a
 * zombie or dead task, which the library does not count either: taking
 * it for a live foreign thread made the model allow accesses the
 * library (rightly) stopped, in slow VMs now and then.
 */
static int tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[320], stat[256], *paren;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat",
			 e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue; /* gone already */
		if (fgets(stat, sizeof(stat), f) &&
		    (paren = strrchr(stat, ')')) != NULL &&
		    paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X')
			n++;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* The kernel's view of the arena and the threads, for the report. */
static void print_kernel(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    hi > (unsigned long)pkf_base &&
		    lo < (unsigned long)pkf_base + PKF_PAGES * pkf_pg)
			fprintf(stderr, "  maps: %s", line);
	if (f)
		fclose(f);
	fprintf(stderr, "  threads: %d\n", tasks());
}

int pkf_diverged(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pkfuzz: DIVERGENCE: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	print_kernel();
	fflush(stderr);
	print_log(2);
	return 1;
}

/* A fault pk_try does not catch: the library let a thread down. */
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	dprintf(2, "pkfuzz: DIVERGENCE: SIGSEGV outside pk_try at %p "
		   "(si_code %d)\n", si->si_addr, si->si_code);
	print_log(2);
	_exit(3);
}

struct probe {
	volatile uint64_t *at;
	int write;
	uint64_t val, got;
};

static void access_page(void *arg)
{
	struct probe *p = arg;

	if (p->write)
		*p->at = p->val;
	else
		p->got = *p->at;
}

/*
 * QEMU's POWER machine keeps a page's permission in its software TLB
 * until the kernel flushes, whatever the AMR says since (README, Tests:
 * a quirk real POWER does not have).  Taking write access from a page
 * of our own makes the kernel flush every entry.
 */
static void stale_tlb_flush(void)
{
#if defined(__powerpc64__)
	static char own[65536] __attribute__((aligned(65536)));

	own[0] = 1;
	mprotect(own, pkf_pg, PROT_READ);
	mprotect(own, pkf_pg, PROT_READ | PROT_WRITE);
#endif
}

/* Read or write page p where its protection allows that access. */
static int probe(int p, int write)
{
	struct pkf_page *g = &pkf_m.pg[p];
	struct probe a = {(volatile uint64_t *)(pkf_base + (size_t)p * pkf_pg),
			  write, (uint64_t)step << 8 | (uint64_t)p << 1 | 1, 0};
	struct pk_fault f;
	int ok, rc;

	if (!g->mapped ||
	    !(g->prot & (write ? PROT_WRITE : PROT_READ)))
		return 0;
	ok = write ? pkm_may_write(&pkf_m, p) : pkm_may_read(&pkf_m, p);
	memset(&f, 0, sizeof(f));
	stale_tlb_flush();
	rc = pk_try(access_page, &a, &f);
	pkf_st->checks++;
	if (ok && rc)
		return pkf_diverged("%s of page %d stopped (%d, key %d), the "
				    "model allows it (key %d, rights %d)",
				    write ? "write" : "read", p, rc, f.key,
				    pkm_key_of(&pkf_m, p),
				    pkm_get(&pkf_m, pkm_key_of(&pkf_m, p)));
	if (ok && write)
		g->tag = a.val;
	else if (ok && a.got != g->tag)
		return pkf_diverged("page %d holds %#llx, the model %#llx", p,
				    (unsigned long long)a.got,
				    (unsigned long long)g->tag);
	if (!ok && rc != -EFAULT)
		return pkf_diverged("%s of page %d went through (%d), the model "
				    "forbids it (key %d, rights %d)",
				    write ? "write" : "read", p, rc,
				    pkm_key_of(&pkf_m, p),
				    pkm_get(&pkf_m, pkm_key_of(&pkf_m, p)));
	if (!ok && (f.addr != (void *)a.at ||
		    f.key != pkm_fault_key(&pkf_m, p) ||
		    f.access != (write ? PK_ACCESS_WRITE : PK_ACCESS_READ)))
		return pkf_diverged("fault on page %d: address %p key %d access "
				    "%d, expected %p key %d access %d",
				    p, f.addr, f.key, f.access, (void *)a.at,
				    pkm_fault_key(&pkf_m, p),
				    write ? PK_ACCESS_WRITE : PK_ACCESS_READ);
	return 0;
}

static int check_all(void)
{
	int k, got;

	for (int p = 0; p < PKF_PAGES; p++) {
		got = pk_key_of(pkf_base + (size_t)p * pkf_pg +
				pkf_pick((unsigned)pkf_pg));
		if (got != pkm_key_of(&pkf_m, p))
			return pkf_diverged("pk_key_of(page %d) = %d, the model "
					    "%d", p, got, pkm_key_of(&pkf_m, p));
	}
	pkf_st->checks += PKF_PAGES;
	for (k = 1; k < PKF_KEYS; k++) {
		if (!pkf_m.allocated[k])
			continue;
		pkf_st->checks++;
		if ((got = pk_get(k)) != pkf_m.rights[k])
			return pkf_diverged("pk_get(%d) = %d, the model %d", k,
					    got, pkf_m.rights[k]);
	}
	k = 1 + (int)pkf_pick(PKF_KEYS - 1);
	if (!pkf_m.allocated[k] && (got = pk_get(k)) != -EINVAL)
		return pkf_diverged("pk_get(%d) = %d, not allocated", k, got);
	got = pk_keys_available();
	if (got != avail0 - pkf_m.nkeys)
		return pkf_diverged("pk_keys_available() = %d, the model %d",
				    got, avail0 - pkf_m.nkeys);
	pkf_st->checks += 2;
	for (int i = 0; i < 2; i++)
		if (probe((int)pkf_pick(PKF_PAGES), (int)pkf_pick(2)))
			return 1;
	return 0;
}

/* Everything back as it was before the episode; no key may be lost. */
static int teardown(void)
{
	int rc = pkf_ops_teardown();

	if (rc)
		return rc;
	pkf_note("teardown: pk_unprotect_range(arena), munmap, pk_key_free");
	if ((rc = pk_unprotect_range(pkf_base, PKF_PAGES * pkf_pg,
				     PK_NO_CHECK_AUTHORITY)))
		return pkf_diverged("pk_unprotect_range(arena) = %d", rc);
	if (munmap(pkf_base, PKF_PAGES * pkf_pg))
		return pkf_diverged("munmap(arena): %s", strerror(errno));
	for (int k = 1; k < PKF_KEYS; k++)
		if (pkf_m.allocated[k] && (rc = pk_key_free(k)))
			return pkf_diverged("key %d cannot be freed: %d", k, rc);
	if ((rc = pk_keys_available()) != avail0)
		return pkf_diverged("%d keys available after the episode, %d "
				    "before", rc, avail0);
	return 0;
}

int pkf_episode(struct pkf_src *s, long steps, struct pkf_stats *st)
{
	static int handler;
	int rc = 0;

	src = s;
	pkf_st = st;
	ncalls = step = 0;
	pkf_pg = (size_t)sysconf(_SC_PAGESIZE);
	pkm_init(&pkf_m);
	if (pk_init()) {
		fprintf(stderr, "pkfuzz: no backend: %s\n", pk_backend_reason());
		return 2;
	}
	if (!handler++) {
		/* Installed before the library's (pk_try), which passes it
		 * the faults that are not key faults. */
		struct sigaction sa = {.sa_sigaction = on_segv,
				       .sa_flags = SA_SIGINFO};
		sigaction(SIGSEGV, &sa, NULL);
	}
	/*
	 * ThreadSanitizer starts its own thread at the program's first
	 * pthread_create, through the library's pthread_create: that thread
	 * would inherit whatever rights the caller held at that moment, which
	 * the model cannot know.  Started here, before any key, it holds the
	 * initial rights, as the model's foreign threads do.
	 */
	pthread_t t;
	int before = tasks();
	if (pthread_create(&t, NULL, nothing, NULL) == 0)
		pthread_join(t, NULL);
	avail0 = pk_keys_available();
	pkf_base = mmap((void *)ARENA, PKF_PAGES * pkf_pg,
			PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (pkf_base != (char *)ARENA) {
		fprintf(stderr, "pkfuzz: cannot map the arena at %#lx\n",
			(unsigned long)ARENA);
		return 2;
	}
	pkm_map(&pkf_m, 0, PKF_PAGES, PROT_READ | PROT_WRITE, -1);
	/*
	 * The thread joined above may still run its exit in the kernel
	 * (not yet a zombie) for a moment: counted live then, it made the
	 * model take a foreign thread for granted that the library, counting
	 * a moment later, rightly did not (a divergence in the POWER VM, 1
	 * run in 7).  Wait, briefly, for the count to come back to what it
	 * was before (libFuzzer's own threads stay); a thread that stays
	 * (ThreadSanitizer's) is foreign.
	 */
	for (int i = 0; i < 200 && tasks() > before; i++)
		usleep(1000);
	pkf_m.foreign = strcmp(pk_backend_name(), "emu") == 0 && tasks() > 1;
	for (; step < steps && !s->ended; step++)
		if (pkf_one_call() || check_all())
			return 1;
	rc = teardown();
	return rc;
}
