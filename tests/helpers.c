/* SPDX-License-Identifier: MIT */
/* Test helpers: checks, page mapping, and probing accesses for faults. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>

#include "pktest.h"

void pkt_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: check failed: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	fflush(stderr);
	_exit(1);
}

void pkt_skip(const char *why)
{
	printf("skip: %s\n", why);
	fflush(stdout);
	_exit(77);
}

size_t pkt_page(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

int pkt_exact(void)
{
	return strcmp(pk_backend_name(), "emu") != 0;
}

int pkt_exact_mode(void)
{
	const char *mode = getenv("PKEYS_EMU");

	return !pkt_exact() && mode && strcmp(mode, "exact") == 0;
}

int pkt_per_thread(void)
{
	return pkt_exact() || pkt_exact_mode();
}

int pkt_handler_resets(void)
{
#if defined(__x86_64__)
	return 1;
#else
	return 0;
#endif
}

/*
 * The end of user space, from the kernel's own account: on x86-64,
 * /proc/cpuinfo lists la57 only when the kernel runs 5-level paging (it
 * clears the flag when it does not, e.g. booted with no5lvl), whatever
 * CPUID says.  0 when unknown.
 */
uintptr_t pkt_user_top(void)
{
#if defined(__x86_64__)
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	int la57 = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "flags", 5) == 0) {
			la57 = strstr(line, " la57 ") || strstr(line, " la57\n");
			break;
		}
	fclose(f);
	return (uintptr_t)1 << (la57 ? 56 : 47);
#elif defined(__powerpc64__)
	/* TASK_SIZE on 64-bit Book3S: 4 PiB with 64 KiB pages, else 64 TiB. */
	return (uintptr_t)1 << (pkt_page() >= 65536 ? 52 : 46);
#else
	return 0;
#endif
}

uintptr_t pkt_user_end(void)
{
	uintptr_t top = pkt_user_top();

#if defined(__x86_64__)
	/* x86-64 Linux never maps the top page (TASK_SIZE_MAX). */
	if (top)
		top -= pkt_page();
#endif
	return top;
}

char *pkt_map(size_t n, int prot)
{
	void *p = mmap(NULL, n * pkt_page(), prot, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	CHECK(p != MAP_FAILED);
	return p;
}

/*
 * Every thread gets a new key's initial rights, including threads the
 * test does not see (a sanitizer's helper): allocate closed, then open
 * for this thread only, so the test's own thread decides.
 */
int pkt_key(unsigned rights)
{
	int k = pk_key_alloc(0, PK_DISABLE_ACCESS);

	if (k < 0)
		pkt_fail(__FILE__, __LINE__, "pk_key_alloc: %s", strerror(-k));
	CHECK_EQ(pk_set(k, rights), 0);
	return k;
}

static __thread sigjmp_buf jump;
static __thread volatile sig_atomic_t armed;
static __thread struct pk_fault caught;
static pthread_once_t handler_once = PTHREAD_ONCE_INIT;

static struct sigaction previous;

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	if (!armed) {
		/* Not ours: the handler before ours (the library's pk_try), or
		 * the default action when the access runs again. */
		if (previous.sa_flags & SA_SIGINFO)
			previous.sa_sigaction(sig, info, uc);
		else
			signal(SIGSEGV, SIG_DFL);
		return;
	}
	armed = 0;
	pk_fault_decode(info, uc, &caught);
	siglongjmp(jump, 1);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, &previous) == 0);
}

#if defined(__powerpc64__)
/*
 * QEMU's POWER machine caches a page's permission in its software TLB
 * with the AMR in force when the page was touched: lowering rights takes
 * effect only when the kernel next flushes (real POWER checks the AMR on
 * every access).  Taking write permission from a touched page makes the
 * kernel issue a tlbie, which QEMU turns into a flush of every entry.
 * The page is the test binary's own (mapped before any test runs, so it
 * never lands in a hole a test keeps), one for all threads: a lock.
 */
static char flush_page[65536] __attribute__((aligned(65536)));
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;

void pkt_tlb_flush(void)
{
	pthread_mutex_lock(&flush_lock);
	*(volatile char *)flush_page = 1;
	CHECK(mprotect(flush_page, pkt_page(), PROT_READ) == 0);
	CHECK(mprotect(flush_page, pkt_page(), PROT_READ | PROT_WRITE) == 0);
	pthread_mutex_unlock(&flush_lock);
}
#define STALE_TRIES 4
#else
void pkt_tlb_flush(void)
{
}
#define STALE_TRIES 1
#endif

int pkt_access(void *addr, int access, char v, struct pk_fault *f)
{
	static __thread int saved[1024];

	pthread_once(&handler_once, install);
	pkt_tlb_flush();
	for (int k = 1; k < 1024; k++)
		saved[k] = pk_get(k);
	if (sigsetjmp(jump, 1) == 0) {
		armed = 1;
		if (access == PK_ACCESS_WRITE)
			*(volatile char *)addr = v;
		else
			(void)*(volatile char *)addr;
		armed = 0;
		return 0;
	}
	/*
	 * Hardware enters the handler with the kernel's rights; go back,
	 * for every key (virtual keys beyond the hardware's too).
	 */
	for (int k = 1; k < 1024; k++)
		if (saved[k] >= 0 && pk_get(k) != saved[k])
			CHECK_EQ(pk_set(k, (unsigned)saved[k]), 0);
	*f = caught;
	return 1;
}

void pkt_expect_fault(const char *file, int line, void *addr, int access,
		      int key)
{
	struct pk_fault f;
	const char *kind = access == PK_ACCESS_WRITE ? "write" : "read";
	int faulted = 0;

	/*
	 * On QEMU's POWER machine another thread on the same virtual CPU may
	 * refill the stale entry between the flush and the access (see
	 * pkt_tlb_flush): try again.  One try elsewhere.
	 */
	for (int i = 0; i < STALE_TRIES && !faulted; i++)
		faulted = pkt_access(addr, access, 0x5a, &f);
	if (!faulted)
		pkt_fail(file, line, "%s of %p did not fault", kind, addr);
	if (f.addr != addr || f.access != access || f.key != key)
		pkt_fail(file, line,
			 "%s of %p: fault at %p, access %d, key %d; expected "
			 "access %d, key %d",
			 kind, addr, f.addr, f.access, f.key, access, key);
	if (key > 0 && f.rights != (unsigned)pk_get(key))
		pkt_fail(file, line, "fault reports rights %u, thread has %d",
			 f.rights, pk_get(key));
}

void pkt_expect_ok(const char *file, int line, void *addr, int access)
{
	struct pk_fault f;

	if (pkt_access(addr, access, 0x5a, &f))
		pkt_fail(file, line, "%s of %p faulted (key %d)",
			 access == PK_ACCESS_WRITE ? "write" : "read", addr,
			 f.key);
}
