/* SPDX-License-Identifier: MIT */
/*
 * The seed systems' interfaces: glibc's pkey calls, FreeBSD's pkru(3)
 * and AIX's vm_protect_kkey, each with its behaviour and its error list,
 * on both backends.  The calls are written with the seed systems' own
 * names, through the headers' macros, as a ported program would.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pkeys/aix.h>
#include <pkeys/freebsd.h>
#include <pkeys/glibc.h>

#include "pktest.h"

#define RW (PROT_READ | PROT_WRITE)

/* call returns -1 with errno err (-1/errno layers: glibc, FreeBSD). */
#define CHECK_ERR(call, err)                                               \
	do {                                                               \
		long r_;                                                   \
		int e_;                                                    \
		errno = 0;                                                 \
		r_ = (long)(call);                                         \
		e_ = errno;                                                \
		if (r_ != -1 || e_ != (err))                               \
			pkt_fail(__FILE__, __LINE__,                       \
				 "%s: returned %ld, errno %d (%s); "       \
				 "expected -1, errno %d (%s)",             \
				 #call, r_, e_, strerror(e_), (int)(err),  \
				 strerror(err));                           \
	} while (0)

static uintptr_t user_top(void)
{
	return pkt_user_top();
}

/* ---- glibc ---------------------------------------------------------- */

void test_compat_glibc_basic(void)
{
	char *p = pkt_map(2, RW);
	size_t pg = pkt_page();
	int k = pkey_alloc(0, PKEY_DISABLE_ACCESS), k2;

	CHECK(k >= 1 && k <= 15);
	CHECK_EQ(pkey_get(k), PKEY_DISABLE_ACCESS);
	p[0] = 'x';
	CHECK_EQ(pkey_mprotect(p, pg, RW, k), 0);
	CHECK_EQ(pk_key_of(p), k);
	EXPECT_FAULT(p, R, k);
	EXPECT_FAULT(p, W, k);
	EXPECT_OK(p + pg, W);
	CHECK_EQ(pkey_set(k, PKEY_DISABLE_WRITE), 0);
	CHECK_EQ(pkey_get(k), PKEY_DISABLE_WRITE);
	EXPECT_OK(p, R);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(pkey_set(k, 0), 0);
	CHECK_EQ(pkey_get(k), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(p[0], 0x5a);
	/* Key -1 changes the protection only, as mprotect does. */
	CHECK_EQ(pkey_mprotect(p, pg, PROT_READ, -1), 0);
	CHECK_EQ(pk_key_of(p), k);
	EXPECT_FAULT(p, W, -1);
	CHECK_EQ(pkey_set(k, PKEY_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	/* Key 0 is the default key again. */
	CHECK_EQ(pkey_mprotect(p, pg, RW, 0), 0);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pkey_free(k), 0);
	CHECK_EQ(pkey_get(0), 0);
	CHECK_EQ(pkey_set(0, 0), 0);
	/* The rights given to pkey_alloc are the caller's. */
	k2 = pkey_alloc(0, PKEY_DISABLE_WRITE);
	CHECK(k2 >= 1 && k2 <= 15);
	CHECK_EQ(pkey_get(k2), PKEY_DISABLE_WRITE);
	CHECK_EQ(pkey_mprotect(p, 2 * pg, RW, k2), 0);
	EXPECT_OK(p + pg, R);
	EXPECT_FAULT(p + pg, W, k2);
}

/* Every error the glibc manual lists, and that failures change nothing. */
void test_compat_glibc_errors(void)
{
	char *p = pkt_map(2, RW);
	size_t pg = pkt_page();
	int k = pkey_alloc(0, 0), gone = pkey_alloc(0, 0), fd;
	char path[] = "/tmp/pktest-compat-XXXXXX", *f;

	CHECK(k > 0 && gone > 0);
	CHECK_EQ(pkey_free(gone), 0);

	CHECK_ERR(pkey_alloc(1, 0), EINVAL);
	CHECK_ERR(pkey_alloc(0x80000000u, 0), EINVAL);
	CHECK_ERR(pkey_alloc(0, 4), EINVAL);
	CHECK_ERR(pkey_alloc(0, 7), EINVAL);

	CHECK_ERR(pkey_free(-1), EINVAL);
	CHECK_ERR(pkey_free(0), EINVAL);
	CHECK_ERR(pkey_free(16), EINVAL);
	CHECK_ERR(pkey_free(gone), EINVAL);

	CHECK_ERR(pkey_mprotect(p, pg, RW, 16), EINVAL);
	CHECK_ERR(pkey_mprotect(p, pg, RW, -2), EINVAL);
	CHECK_ERR(pkey_mprotect(p, pg, RW, gone), EINVAL);
	CHECK_ERR(pkey_mprotect(p + 1, pg, RW, k), EINVAL);
	CHECK_ERR(pkey_mprotect(p, pg, RW | 0x100, k), EINVAL);
	CHECK_EQ(munmap(p + pg, pg), 0);
	CHECK_ERR(pkey_mprotect(p, 2 * pg, RW, k), ENOMEM);

	CHECK_ERR(pkey_set(16, 0), EINVAL);
	CHECK_ERR(pkey_set(-1, 0), EINVAL);
	CHECK_ERR(pkey_set(k, 4), EINVAL);
	CHECK_ERR(pkey_set(gone, 4), EINVAL);
	CHECK_ERR(pkey_set(0, PKEY_DISABLE_ACCESS), EINVAL);
	CHECK_ERR(pkey_get(16), EINVAL);
	CHECK_ERR(pkey_get(-1), EINVAL);

	/* mprotect's EACCES: write access to a read-only file mapping. */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)pg), 0);
	close(fd);
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	unlink(path);
	f = mmap(NULL, pg, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(f != MAP_FAILED);
	CHECK_ERR(pkey_mprotect(f, pg, RW, k), EACCES);
	CHECK_ERR(pkey_mprotect(f, pg, RW, -1), EACCES);
	CHECK_EQ(pk_key_of(f), 0);
	close(fd);

	/* Nothing changed. */
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pkey_get(k), 0);
	CHECK_EQ(pkey_free(k), 0);
}

/* glibc's keys are 1..15, also where the library has more. */
void test_compat_glibc_exhaustion(void)
{
	int keys[16], n = 0, k, other;

	while (n < 16 && (k = pkey_alloc(0, PKEY_DISABLE_ACCESS)) >= 0) {
		CHECK(k >= 1 && k <= 15);
		for (int i = 0; i < n; i++)
			CHECK(keys[i] != k);
		keys[n++] = k;
	}
	CHECK_EQ(n, 15);
	CHECK_ERR(pkey_alloc(0, 0), ENOSPC);
	/* The library itself still has keys (above 15) for other code. */
	other = pk_key_alloc(0, 0);
	CHECK(other > 15);
	CHECK_EQ(pk_key_free(other), 0);
	/* A freed number comes back. */
	CHECK_EQ(pkey_free(keys[4]), 0);
	CHECK_EQ(pkey_alloc(0, 0), keys[4]);
	CHECK_ERR(pkey_alloc(0, 0), ENOSPC);
	/* Keys other code took count against the same 15. */
	CHECK_EQ(pkey_free(keys[7]), 0);
	other = pk_key_alloc(0, 0);
	CHECK_EQ(other, keys[7]);
	CHECK_ERR(pkey_alloc(0, 0), ENOSPC);
}

/*
 * pkey_free of a key pages still carry succeeds, as on Linux; the pages
 * stay protected, and the number comes back at the next pkey_alloc
 * (lowest first) with those pages, which then obey its new owner.
 */
void test_compat_glibc_free_busy(void)
{
	char *p = pkt_map(1, RW);
	size_t pg = pkt_page();
	int k = pkey_alloc(0, PKEY_DISABLE_ACCESS), n = 0, x;

	CHECK(k > 0);
	CHECK_EQ(pkey_mprotect(p, pg, RW, k), 0);
	CHECK_EQ(pkey_free(k), 0);
	CHECK_ERR(pkey_free(k), EINVAL);
	CHECK_ERR(pkey_mprotect(p, pg, RW, k), EINVAL);
	CHECK_EQ(pk_key_of(p), k);
	EXPECT_FAULT(p, W, k);
	/* The thread's rights for the number still count, as in PKRU. */
	CHECK_EQ(pkey_set(k, 0), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pkey_set(k, PKEY_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	/* The number is the next owner's, pages and all. */
	CHECK_EQ(pkey_alloc(0, PKEY_DISABLE_WRITE), k);
	CHECK_EQ(pkey_get(k), PKEY_DISABLE_WRITE);
	EXPECT_OK(p, R);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(pkey_mprotect(p, pg, RW, k), 0);
	/* Freed and taken again in a loop: never runs out (Linux). */
	for (int i = 0; i < 100; i++) {
		CHECK_EQ(pkey_free(k), 0);
		CHECK_EQ(pkey_alloc(0, 0), k);
	}
	while ((x = pkey_alloc(0, 0)) >= 0) {
		CHECK(x != k);
		n++;
	}
	CHECK_EQ(errno, ENOSPC);
	CHECK_EQ(n, 14);
	CHECK_EQ(munmap(p, pg), 0);
	CHECK_EQ(pkey_free(k), 0);
	CHECK_EQ(pkey_alloc(0, 0), k);
	CHECK_ERR(pkey_alloc(0, 0), ENOSPC);
}

/*
 * pkey_get and pkey_set on numbers nobody allocated read and write the
 * thread's bits, as on hardware: access disabled at first, as the
 * kernel starts a program; per thread.
 */
static void *loose_other(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)pkey_get(15);
}

void test_compat_glibc_loose_numbers(void)
{
	pthread_t t;
	void *other;

	CHECK_EQ(pk_get(15), -EINVAL); /* nobody's */
	CHECK_EQ(pkey_get(15), PKEY_DISABLE_ACCESS);
	CHECK_EQ(pkey_set(15, PKEY_DISABLE_WRITE), 0);
	CHECK_EQ(pkey_get(15), PKEY_DISABLE_WRITE);
	CHECK_EQ(pthread_create(&t, NULL, loose_other, NULL), 0);
	CHECK_EQ(pthread_join(t, &other), 0);
	CHECK_EQ((intptr_t)other, PKEY_DISABLE_ACCESS);
	CHECK_ERR(pkey_set(15, 4), EINVAL);
	CHECK_EQ(pkey_get(15), PKEY_DISABLE_WRITE);
	CHECK_EQ(pkey_set(15, 0), 0);
	CHECK_EQ(pkey_get(15), 0);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int key, rights;
};

static void *existing_thread(void *arg)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	while (w->key == 0)
		pthread_cond_wait(&w->cond, &w->lock);
	w->rights = pkey_get(w->key);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void *rights_of(void *arg)
{
	return (void *)(intptr_t)pkey_get(*(int *)arg);
}

/*
 * pkey_alloc's rights are the calling thread's; threads that exist then
 * start with the key access-disabled; new threads inherit their
 * creator's rights.
 */
void test_compat_glibc_threads(void)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			   0, -1};
	pthread_t t;
	void *got;
	int k;

	CHECK_EQ(pthread_create(&t, NULL, existing_thread, &w), 0);
	k = pkey_alloc(0, 0);
	CHECK(k > 0);
	CHECK_EQ(pkey_get(k), 0);
	pthread_mutex_lock(&w.lock);
	w.key = k;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.rights, PKEY_DISABLE_ACCESS);

	CHECK_EQ(pkey_set(k, PKEY_DISABLE_WRITE), 0);
	CHECK_EQ(pthread_create(&t, NULL, rights_of, &k), 0);
	CHECK_EQ(pthread_join(t, &got), 0);
	CHECK_EQ((intptr_t)got, PKEY_DISABLE_WRITE);
}

/* The header renames the calls; glibc's own symbols stay glibc's. */
void test_compat_glibc_names(void)
{
	void *libc_alloc = dlsym(RTLD_DEFAULT, "pkey_alloc");
	Dl_info info;

	CHECK_EQ(PKEY_DISABLE_ACCESS, PK_DISABLE_ACCESS);
	CHECK_EQ(PKEY_DISABLE_WRITE, PK_DISABLE_WRITE);
#ifndef __GLIBC__
	/* No pkey_alloc in this C library (musl), and libpkeys defines
	 * none under glibc's name: the header's names are the program's. */
	CHECK(libc_alloc == NULL);
	CHECK(dlsym(RTLD_DEFAULT, "pkeys_pkey_set") == (void *)pkey_set);
	(void)info;
	return;
#endif
	CHECK(libc_alloc != NULL);
	CHECK(libc_alloc != (void *)pkeys_pkey_alloc);
	CHECK(dladdr(libc_alloc, &info) != 0);
	CHECK(strstr(info.dli_fname, "libc.so") != NULL);
	CHECK(dlsym(RTLD_DEFAULT, "pkeys_pkey_alloc") == (void *)pkeys_pkey_alloc);
	CHECK(dlsym(RTLD_DEFAULT, "pkeys_pkey_set") == (void *)pkey_set);
}

/* ---- FreeBSD -------------------------------------------------------- */

/* FreeBSD's (access, modify) and the rights they are. */
static const struct {
	int access, modify;
	unsigned rights;
} perms[] = {
	{1, 1, 0},
	{1, 0, PK_DISABLE_WRITE},
	{0, 1, PK_DISABLE_ACCESS},
	{0, 0, PK_DISABLE_ACCESS | PK_DISABLE_WRITE},
};

void test_compat_freebsd_perm(void)
{
	char *p = pkt_map(1, RW);
	int a = -1, m = -1, k;

	/* An index nobody bound: full access, and asking binds nothing. */
	CHECK_EQ(x86_pkru_get_perm(3, &a, &m), 0);
	CHECK(a && m);
	CHECK_EQ(pk_freebsd_key(3), 0);
	CHECK_EQ(x86_pkru_get_perm(0, &a, &m), 0);
	CHECK(a && m);
	CHECK_EQ(x86_pkru_set_perm(0, 1, 1), 0);

	for (size_t i = 0; i < sizeof(perms) / sizeof(perms[0]); i++) {
		CHECK_EQ(x86_pkru_set_perm(3, perms[i].access, perms[i].modify), 0);
		k = pk_freebsd_key(3);
		CHECK(k > 0);
		CHECK_EQ(pk_get(k), perms[i].rights);
		a = m = -1;
		CHECK_EQ(x86_pkru_get_perm(3, &a, &m), 0);
		CHECK_EQ(a, perms[i].access);
		CHECK_EQ(m, perms[i].modify);
	}
	/* Bound once, for good. */
	k = pk_freebsd_key(3);
	CHECK_EQ(x86_pkru_set_perm(3, 7, -1), 0);
	CHECK_EQ(pk_freebsd_key(3), k);
	CHECK_EQ(pk_get(k), 0);

	/* What each permission lets through, on a page with the index. */
	p[0] = 'a';
	CHECK_EQ(x86_pkru_protect_range(p, pkt_page(), 3, 0), 0);
	CHECK_EQ(pk_key_of(p), k);
	EXPECT_OK(p, W);
	CHECK_EQ(x86_pkru_set_perm(3, 1, 0), 0);
	EXPECT_OK(p, R);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(x86_pkru_set_perm(3, 0, 1), 0);
	EXPECT_FAULT(p, R, k);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(x86_pkru_set_perm(3, 0, 0), 0);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(x86_pkru_set_perm(3, 1, 1), 0);
	CHECK_EQ(p[0], 0x5a);
}

void test_compat_freebsd_range(void)
{
	char *p = pkt_map(3, RW);
	size_t pg = pkt_page();
	int k5, k6, k7;

	/* The start is truncated to its page and the end rounded up. */
	CHECK_EQ(x86_pkru_protect_range(p + 100, pg, 5, 0), 0);
	k5 = pk_freebsd_key(5);
	CHECK(k5 > 0);
	CHECK_EQ(pk_key_of(p), k5);
	CHECK_EQ(pk_key_of(p + pg), k5);
	CHECK_EQ(pk_key_of(p + 2 * pg), 0);
	/* The thread that bound the index has full access, as on FreeBSD. */
	EXPECT_OK(p, W);
	CHECK_EQ(x86_pkru_set_perm(5, 0, 0), 0);
	EXPECT_FAULT(p, R, k5);
	EXPECT_FAULT(p + pg, W, k5);
	EXPECT_OK(p + 2 * pg, W);

	/* No authority check: a closed key is replaced all the same. */
	CHECK_EQ(x86_pkru_protect_range(p, pg, 6, 0), 0);
	k6 = pk_freebsd_key(6);
	CHECK(k6 > 0 && k6 != k5);
	CHECK_EQ(pk_key_of(p), k6);
	EXPECT_OK(p, W);
	EXPECT_FAULT(p + pg, R, k5);

	/* EXCL: anything assigned in the range is EBUSY, nothing changes. */
	CHECK_ERR(x86_pkru_protect_range(p, 3 * pg, 7, AMD64_PKRU_EXCL), EBUSY);
	CHECK_EQ(pk_key_of(p), k6);
	CHECK_EQ(pk_key_of(p + 2 * pg), 0);
	CHECK_EQ(x86_pkru_unprotect_range(p, 2 * pg), 0);
	CHECK_EQ(pk_key_of(p), 0);
	CHECK_EQ(pk_key_of(p + pg), 0);
	EXPECT_OK(p + pg, W);
	/* Key 0 assigned explicitly counts. */
	CHECK_EQ(x86_pkru_protect_range(p, pg, 0, 0), 0);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 7, AMD64_PKRU_EXCL), EBUSY);
	CHECK_EQ(x86_pkru_protect_range(p + pg, 2 * pg, 7, AMD64_PKRU_EXCL), 0);
	k7 = pk_freebsd_key(7);
	CHECK_EQ(pk_key_of(p + pg), k7);
	CHECK_EQ(pk_key_of(p + 2 * pg), k7);
	/* Without EXCL an assignment replaces what is there. */
	CHECK_EQ(x86_pkru_protect_range(p, 3 * pg, 5, 0), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pk_key_of(p + i * pg), k5);
	EXPECT_FAULT(p + 2 * pg, R, k5);
	/* Unprotect rounds the same way. */
	CHECK_EQ(x86_pkru_unprotect_range(p + 5, 3 * pg - 10), 0);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(pk_key_of(p + i * pg), 0);
	EXPECT_OK(p + 2 * pg, W);
	/* An empty range at an unaligned address is its page, as on FreeBSD. */
	CHECK_EQ(x86_pkru_protect_range(p + 10, 0, 5, 0), 0);
	CHECK_EQ(pk_key_of(p), k5);
	CHECK_EQ(pk_key_of(p + pg), 0);
	CHECK_EQ(x86_pkru_set_perm(5, 1, 1), 0);
}

void test_compat_freebsd_persist(void)
{
	char *p = pkt_map(3, RW);
	size_t pg = pkt_page();
	int k;

	CHECK_EQ(x86_pkru_protect_range(p, 3 * pg, 9, AMD64_PKRU_PERSIST), 0);
	k = pk_freebsd_key(9);
	CHECK_EQ(x86_pkru_set_perm(9, 0, 0), 0);
	CHECK_EQ(munmap(p + pg, pg), 0);
	CHECK_EQ(pk_key_of(p + pg), k);
	CHECK(mmap(p + pg, pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		   0) == p + pg);
	CHECK_EQ(pk_key_of(p + pg), k);
	EXPECT_FAULT(p + pg, R, k);
	/* Without PERSIST the assignment ends with the mapping. */
	CHECK_EQ(x86_pkru_protect_range(p + pg, pg, 9, 0), 0);
	CHECK_EQ(munmap(p + pg, pg), 0);
	CHECK_EQ(pk_key_of(p + pg), 0);
	CHECK(mmap(p + pg, pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		   0) == p + pg);
	EXPECT_OK(p + pg, W);
	/* Unprotect forgets PERSIST assignments too. */
	CHECK_EQ(x86_pkru_unprotect_range(p, 3 * pg), 0);
	CHECK_EQ(munmap(p, pg), 0);
	CHECK(mmap(p, pg, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	/* PERSIST may cover unmapped pages; without it they are ENOMEM
	 * (FreeBSD accepts them). */
	CHECK_EQ(munmap(p + pg, pg), 0);
	CHECK_ERR(x86_pkru_protect_range(p, 3 * pg, 9, 0), ENOMEM);
	CHECK_EQ(pk_key_of(p), 0);
	CHECK_EQ(x86_pkru_protect_range(p, 3 * pg, 9, AMD64_PKRU_PERSIST), 0);
	CHECK_EQ(pk_key_of(p + pg), k);
	EXPECT_FAULT(p + 2 * pg, W, k);
}

/* Every error of pkru(3), in the kernel's order; failures change nothing. */
void test_compat_freebsd_errors(void)
{
	char *p = pkt_map(1, RW), *q;
	size_t pg = pkt_page();
	int a, m;

	CHECK_ERR(x86_pkru_get_perm(16, &a, &m), EINVAL);
	CHECK_ERR(x86_pkru_set_perm(16, 1, 1), EINVAL);
	CHECK_ERR(x86_pkru_set_perm(UINT_MAX, 1, 1), EINVAL);
	/* Key 0 covers every stack: it is never restricted. */
	CHECK_ERR(x86_pkru_set_perm(0, 0, 0), EINVAL);
	CHECK_ERR(x86_pkru_set_perm(0, 1, 0), EINVAL);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 16, 0), EINVAL);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 1, 4), EINVAL);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 1, 0x100), EINVAL);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 1, -1), EINVAL);
	/* Arguments before the range, as the kernel checks them. */
	CHECK_ERR(x86_pkru_protect_range(p, 0, 16, 0), EINVAL);
	/* Empty, wrapping, or beyond user space: EFAULT. */
	CHECK_ERR(x86_pkru_protect_range(p, 0, 1, 0), EFAULT);
	CHECK_ERR(x86_pkru_unprotect_range(p, 0), EFAULT);
	CHECK_ERR(x86_pkru_protect_range(p, ULONG_MAX, 1, 0), EFAULT);
	CHECK_ERR(x86_pkru_protect_range((void *)(UINTPTR_MAX - pg + 1), pg, 1, 0),
		  EFAULT);
	CHECK_ERR(x86_pkru_unprotect_range((void *)(UINTPTR_MAX - pg + 1), pg),
		  EFAULT);
	if (user_top()) {
		CHECK_ERR(x86_pkru_protect_range((void *)(user_top() - pg),
						 2 * pg, 1, AMD64_PKRU_PERSIST),
			  EFAULT);
		CHECK_ERR(x86_pkru_unprotect_range((void *)(user_top() - pg),
						   2 * pg),
			  EFAULT);
	}
	/* Page 0 is never user memory on Linux. */
	CHECK_ERR(x86_pkru_protect_range(NULL, pg, 1, 0), EFAULT);
	/* A call that fails later than its checks binds nothing either. */
	q = pkt_map(1, RW);
	CHECK_EQ(x86_pkru_protect_range(q, pg, 0, 0), 0);
	CHECK_ERR(x86_pkru_protect_range(q, pg, 1, AMD64_PKRU_EXCL), EBUSY);
	/* No failing call bound an index or changed a page. */
	CHECK_EQ(pk_freebsd_key(1), 0);
	CHECK_EQ(pk_freebsd_key(16), -EINVAL);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(x86_pkru_get_perm(0, &a, &m), 0);
	CHECK(a && m);
}

struct bind_wait {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int go, access, modify;
};

static void *perm_after_bind(void *arg)
{
	struct bind_wait *w = arg;

	pthread_mutex_lock(&w->lock);
	while (!w->go)
		pthread_cond_wait(&w->cond, &w->lock);
	CHECK_EQ(x86_pkru_get_perm(2, &w->access, &w->modify), 0);
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void *perm_of_2(void *arg)
{
	int *am = arg;

	CHECK_EQ(x86_pkru_get_perm(2, &am[0], &am[1]), 0);
	return NULL;
}

/*
 * The thread that binds an index gets full access; threads that exist
 * then hold it access-disabled; new threads inherit their creator's.
 */
void test_compat_freebsd_threads(void)
{
	struct bind_wait w = {PTHREAD_MUTEX_INITIALIZER,
			      PTHREAD_COND_INITIALIZER, 0, -1, -1};
	char *p = pkt_map(1, RW);
	int am[2] = {-1, -1}, k;
	pthread_t t;

	CHECK_EQ(pthread_create(&t, NULL, perm_after_bind, &w), 0);
	CHECK_EQ(x86_pkru_protect_range(p, pkt_page(), 2, 0), 0);
	k = pk_freebsd_key(2);
	CHECK(k > 0);
	pthread_mutex_lock(&w.lock);
	w.go = 1;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(w.access, 0);
	CHECK_EQ(w.modify, 1);
	EXPECT_OK(p, W);

	CHECK_EQ(x86_pkru_set_perm(2, 1, 0), 0);
	CHECK_EQ(pthread_create(&t, NULL, perm_of_2, am), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(am[0], 1);
	CHECK_EQ(am[1], 0);
	CHECK_EQ(pk_freebsd_key(2), k);
}

/* With no library key left, binding an index is ENOMEM; key 0 works. */
void test_compat_freebsd_exhaustion(void)
{
	char *p = pkt_map(1, RW);
	int a = -1, m = -1, last = 0, k;

	while ((k = pk_key_alloc(0, PK_DISABLE_ACCESS)) > 0)
		last = k;
	CHECK_EQ(k, -ENOSPC);
	CHECK(last > 0);
	CHECK_ERR(x86_pkru_set_perm(4, 1, 1), ENOMEM);
	CHECK_ERR(x86_pkru_protect_range(p, pkt_page(), 4, 0), ENOMEM);
	CHECK_EQ(pk_freebsd_key(4), 0);
	CHECK_EQ(x86_pkru_get_perm(4, &a, &m), 0);
	CHECK(a && m);
	CHECK_EQ(x86_pkru_protect_range(p, pkt_page(), 0, 0), 0);
	CHECK_EQ(pk_key_free(last), 0);
	CHECK_EQ(x86_pkru_protect_range(p, pkt_page(), 4, 0), 0);
	CHECK_EQ(pk_freebsd_key(4), last);
	CHECK_EQ(pk_key_of(p), last);
}

/* ---- AIX ------------------------------------------------------------ */

void test_compat_aix_basic(void)
{
	char *p = pkt_map(2, RW);
	size_t pg = pkt_page();
	int k = pkt_key(0);

	p[0] = 'a';
	CHECK_EQ(vm_protect_kkey(p, pg, k, 0), 0);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(pk_key_of(p + pg), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
	EXPECT_OK(p + pg, W);
	/* Back to the default key: authority over k is needed for that. */
	CHECK_EQ(vm_protect_kkey(p, pg, 0, 0), EPERM_VM_PROTECT_KKEY);
	CHECK_EQ(pk_key_of(p), k);
	CHECK_EQ(vm_protect_kkey(p, pg, 0, VMPK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(p[0], 0x5a);
	/* Each page keeps its protection. */
	CHECK_EQ(mprotect(p + pg, pg, PROT_READ), 0);
	CHECK_EQ(vm_protect_kkey(p, 2 * pg, k, VMPK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_of(p + pg), k);
	EXPECT_FAULT(p + pg, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(p, W);
	EXPECT_OK(p + pg, R);
	EXPECT_FAULT(p + pg, W, -1);
	/* With write rights on the keys there, no flag is needed. */
	CHECK_EQ(vm_protect_kkey(p, 2 * pg, 0, 0), 0);
	CHECK_EQ(pk_key_of(p + pg), 0);
}

void test_compat_aix_errors(void)
{
	static const kerrno_t codes[] = {
		EINVAL_VM_PROTECT_KKEY, EINVAL_VM_PROTECT_KKEY_PPAGE,
		EFAULT_VM_PROTECT_KKEY, EPERM_VM_PROTECT_KKEY};
	char *p = pkt_map(2, RW);
	size_t pg = pkt_page();
	int k = pkt_key(0), k2 = pkt_key(0), gone = pkt_key(0);

	/* Four distinct results, none a negative errno value. */
	for (size_t i = 0; i < 4; i++) {
		CHECK(codes[i] < -4095);
		for (size_t j = 0; j < i; j++)
			CHECK(codes[i] != codes[j]);
	}
	CHECK_EQ(pk_key_free(gone), 0);
	CHECK_EQ(vm_protect_kkey(p, pg, k, 2), EINVAL_VM_PROTECT_KKEY);
	CHECK_EQ(vm_protect_kkey(p, pg, k, ~0UL), EINVAL_VM_PROTECT_KKEY);
	CHECK_EQ(vm_protect_kkey(p, pg, gone, 0), EINVAL_VM_PROTECT_KKEY);
	CHECK_EQ(vm_protect_kkey(p, pg, -1, 0), EINVAL_VM_PROTECT_KKEY);
	CHECK_EQ(vm_protect_kkey(p + 1, pg, k, 0), EINVAL_VM_PROTECT_KKEY_PPAGE);
	CHECK_EQ(vm_protect_kkey(p, 100, k, 0), EINVAL_VM_PROTECT_KKEY_PPAGE);
	CHECK_EQ(vm_protect_kkey(NULL, pg, k, 0), EFAULT_VM_PROTECT_KKEY);
	CHECK_EQ(vm_protect_kkey((void *)(UINTPTR_MAX - pg + 1), pg, k, 0),
		 EFAULT_VM_PROTECT_KKEY);
	if (user_top())
		CHECK_EQ(vm_protect_kkey((void *)(user_top() - pg), 2 * pg, k, 0),
			 EFAULT_VM_PROTECT_KKEY);
	/* Authority: write rights on every key there now. */
	CHECK_EQ(vm_protect_kkey(p, pg, k, 0), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	CHECK_EQ(vm_protect_kkey(p, 2 * pg, k2, 0), EPERM_VM_PROTECT_KKEY);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(vm_protect_kkey(p, pg, 0, 0), EPERM_VM_PROTECT_KKEY);
	/* A failure AIX has no code for keeps its errno. */
	CHECK_EQ(munmap(p + pg, pg), 0);
	CHECK_EQ(vm_protect_kkey(p, 2 * pg, k2, VMPK_NO_CHECK_AUTHORITY),
		 -ENOMEM);
	/* No failing call changed a page. */
	CHECK_EQ(pk_key_of(p), k);
	EXPECT_FAULT(p, R, k);
}

/* ---- without a backend ---------------------------------------------- */

/*
 * In a fresh process whose PKEYS_BACKEND leaves no backend: each layer
 * answers as its system does where keys do not work; key 0 still works.
 */
static void no_backend_checks(void)
{
	int err = pk_init(), gerr, a, m;
	char *p = pkt_map(1, RW);
	size_t pg = pkt_page();

	CHECK(err == -EINVAL || err == -EOPNOTSUPP);
	/* glibc: ENOSYS where keys are absent, EINVAL where disabled. */
	gerr = err == -EOPNOTSUPP ? ENOSYS : EINVAL;
	CHECK_ERR(pkey_alloc(0, 0), gerr);
	CHECK_ERR(pkey_mprotect(p, pg, RW, 1), gerr);
	CHECK_ERR(pkey_free(1), gerr);
	CHECK_ERR(pkey_set(1, 0), gerr);
	CHECK_ERR(pkey_get(1), gerr);
	CHECK_EQ(pkey_get(0), 0);
	CHECK_EQ(pkey_set(0, 0), 0);
	CHECK_EQ(pkey_mprotect(p, pg, PROT_READ, -1), 0);
	EXPECT_FAULT(p, W, -1);
	CHECK_EQ(pkey_mprotect(p, pg, RW, 0), 0);
	EXPECT_OK(p, W);

	/* FreeBSD: EOPNOTSUPP, after the range calls' argument checks. */
	CHECK_ERR(x86_pkru_get_perm(0, &a, &m), EOPNOTSUPP);
	CHECK_ERR(x86_pkru_get_perm(16, &a, &m), EOPNOTSUPP);
	CHECK_ERR(x86_pkru_set_perm(1, 1, 1), EOPNOTSUPP);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 1, 0), EOPNOTSUPP);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 0, 0), EOPNOTSUPP);
	CHECK_ERR(x86_pkru_protect_range(p, pg, 16, 0), EINVAL);
	CHECK_ERR(x86_pkru_protect_range(p, 0, 1, 0), EFAULT);
	CHECK_ERR(x86_pkru_unprotect_range(p, pg), EOPNOTSUPP);

	/* AIX: keys cannot be set in this environment. */
	CHECK_EQ(vm_protect_kkey(p, pg, 0, 0), EINVAL_VM_PROTECT_KKEY);
	CHECK_EQ(vm_protect_kkey(p, pg, 0, VMPK_NO_CHECK_AUTHORITY),
		 EINVAL_VM_PROTECT_KKEY);
	EXPECT_OK(p, W);
}

static int run_without_backend(const char *env)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		setenv("PKEYS_BACKEND", env, 1);
		setenv("PKTEST_COMPAT_NO_BACKEND", "1", 1);
		execl("/proc/self/exe", "pktest", "--inline", "compat_no_backend",
		      (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void test_compat_no_backend(void)
{
	struct pk_info info;

	if (getenv("PKTEST_COMPAT_NO_BACKEND")) {
		no_backend_checks();
		return;
	}
	CHECK_EQ(run_without_backend("bogus"), 0);
	pk_info(&info);
	if (!info.cpu_ospke)
		CHECK_EQ(run_without_backend("hw"), 0);
}

/*
 * fork while another thread is binding a FreeBSD key index (its calls
 * fail, EXCL on a page that has a key, so it binds again and again):
 * the child's first binding goes through; it used to wait forever on a
 * lock the other thread held at the fork.  Each child gets 2 s; the
 * whole test a generous limit, as forking under AddressSanitizer while
 * make check runs beside it took 45-59 s for the 100 forks (1.5 s alone).
 */
static char *fb_page;
static int fb_stop;

static void *fb_binder(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&fb_stop, __ATOMIC_RELAXED))
		x86_pkru_protect_range(fb_page, pkt_page(), 5,
				       AMD64_PKRU_EXCL);
	return NULL;
}

void test_compat_freebsd_fork(void)
{
	pthread_t t;

	fb_page = pkt_map(1, PROT_READ | PROT_WRITE);
	CHECK_EQ(pk_protect_range(fb_page, pkt_page(), pkt_key(0), 0), 0);
	CHECK_EQ(x86_pkru_protect_range(fb_page, pkt_page(), 5,
					AMD64_PKRU_EXCL),
		 -1);
	CHECK_EQ(errno, EBUSY);
	CHECK_EQ(pthread_create(&t, NULL, fb_binder, NULL), 0);
	for (int i = 0; i < 100; i++) {
		int status = 0, waited = 0;
		pid_t pid = fork();

		CHECK(pid >= 0);
		if (pid == 0)
			_exit(x86_pkru_set_perm(6, 1, 1) == 0 ? 0 : 1);
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (++waited == 2000) {
				kill(pid, SIGKILL);
				CHECK_EQ(waitpid(pid, &status, 0), pid);
				pkt_fail(__FILE__, __LINE__,
					 "fork %d: the child is stuck binding", i);
			}
			usleep(1000);
		}
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	__atomic_store_n(&fb_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
}
