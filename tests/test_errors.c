/* SPDX-License-Identifier: MIT */
/* Bad input: each call returns its documented error and changes nothing. */
#include <dlfcn.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pktest.h"

void test_bad_alloc(void)
{
	int n = pk_keys_available();

	CHECK_EQ(pk_key_alloc(1, 0), -EINVAL);
	CHECK_EQ(pk_key_alloc(0, 4), -EINVAL);
	CHECK_EQ(pk_key_alloc(0, ~0u), -EINVAL);
	CHECK_EQ(pk_keys_available(), n);
}

void test_bad_free(void)
{
	int k = pkt_key(0);

	CHECK_EQ(pk_key_free(0), -EINVAL);
	CHECK_EQ(pk_key_free(-1), -EINVAL);
	CHECK_EQ(pk_key_free(16), -EINVAL);
	CHECK_EQ(pk_key_free(1000), -EINVAL);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_key_free(k), -EINVAL);
}

void test_busy_free(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS), n;

	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	n = pk_keys_available();
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(pk_keys_available(), n);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	EXPECT_FAULT(p, R, k);
	CHECK_EQ(pk_set(k, 0), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, 0), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_bad_set_get(void)
{
	int k = pkt_key(PK_DISABLE_WRITE), gone = pkt_key(0);

	CHECK_EQ(pk_key_free(gone), 0);
	CHECK_EQ(pk_set(k, 4), -EINVAL);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS | 8), -EINVAL);
	CHECK_EQ(pk_get(k), PK_DISABLE_WRITE);
	CHECK_EQ(pk_set(gone, 0), -EINVAL);
	CHECK_EQ(pk_get(gone), -EINVAL);
	CHECK_EQ(pk_set(PK_KEY_DEFAULT, PK_DISABLE_ACCESS), -EINVAL);
	CHECK_EQ(pk_get(PK_KEY_DEFAULT), 0);
	CHECK_EQ(pk_set(-1, 0), -EINVAL);
	CHECK_EQ(pk_set(16, 0), -EINVAL);
	CHECK_EQ(pk_get(-1), -EINVAL);
	CHECK_EQ(pk_get(99), -EINVAL);
	CHECK_EQ(pk_get(k), PK_DISABLE_WRITE);
}

void test_bad_mprotect(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(3, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS), other = pkt_key(0);
	int never = pkt_key(0), rw = PROT_READ | PROT_WRITE;

	CHECK_EQ(pk_key_free(never), 0);
	CHECK_EQ(pk_mprotect(p, pg, rw, k), 0);
	/* Page 2 is unmapped: a range reaching it is refused whole. */
	CHECK_EQ(munmap(p + 2 * pg, pg), 0);

	static const struct {
		size_t off;
		size_t len;
		int prot, key, err;
	} bad[] = {
		{1, 4096, PROT_READ, 0, EINVAL},	/* unaligned */
		{0, SIZE_MAX, PROT_READ, 0, EINVAL},	/* wraps */
		{0, SIZE_MAX - 8192, PROT_READ, 0, EINVAL},
		{0, 4096, 0x100, 0, EINVAL},		/* unknown prot */
		{0, 4096, PROT_READ | 0x1000000, 0, EINVAL},
		{0, 4096, PROT_READ, -2, EINVAL},
		{0, 4096, PROT_READ, 16, EINVAL},
		{0, 4096, PROT_READ, 1 << 20, EINVAL},
		{0, 3 * 4096, PROT_READ, 0, ENOMEM},	/* hole at page 2 */
		{0, 3 * 4096, PROT_READ, -1, ENOMEM},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int key = bad[i].key == 0 ? other : bad[i].key;
		size_t len = bad[i].len == 4096 ? pg
			     : bad[i].len == 3 * 4096 ? 3 * pg : bad[i].len;
		if (bad[i].key == -1)
			key = -1;
		if (pk_mprotect(p + bad[i].off, len, bad[i].prot, key) !=
		    -bad[i].err)
			pkt_fail(__FILE__, __LINE__, "case %zu: got %d, want %d",
				 i, pk_mprotect(p + bad[i].off, len,
						bad[i].prot, key),
				 -bad[i].err);
		/* Nothing changed: page 0 keyed and closed, page 1 open. */
		EXPECT_FAULT(p, R, k);
		EXPECT_OK(p + pg, W);
	}
	CHECK_EQ(pk_mprotect(NULL, pg, PROT_READ, other), -EINVAL);
	CHECK_EQ(pk_mprotect(p, pg, PROT_READ, never), -EINVAL);
	CHECK_EQ(pk_mprotect(p + 2 * pg, pg, PROT_READ, other), -ENOMEM);
	EXPECT_FAULT(p, W, k);
	CHECK_EQ(pk_key_free(k), -EBUSY);
}

void test_len_zero(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_ACCESS);

	CHECK_EQ(pk_mprotect(p, 0, PROT_NONE, k), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_mprotect(p, 0, PROT_NONE, k), -EINVAL);
}

/*
 * Errors no man page lists, made to come from the kernel's protection
 * calls (pk__test_fail_protect): each public call returns one its page
 * lists instead, and changes nothing.  EBADF, which no protection call
 * can really return, stands for "an internal step failed unexpectedly"
 * and must come back as EIO; EMFILE, a shortage, stays EMFILE where a
 * page lists it (reading /proc) and becomes ENOMEM where it does not.
 */
void pk__test_fail_protect(int nth, int err);

#define INJ_KEYS 20 /* more than the hardware's: the last ones are evicted */

struct state {
	int key, read, write;
};

static struct state state_of(char *page)
{
	struct pk_fault f;

	return (struct state){pk_key_of(page), pkt_access(page, R, 0, &f),
			      pkt_access(page, W, 0, &f)};
}

static void expect_unchanged(char *p, size_t n, const struct state *before,
			     const char *call, int nth)
{
	for (size_t i = 0; i < n; i++) {
		struct state now = state_of(p + i * pkt_page());
		if (memcmp(&now, &before[i], sizeof(now)))
			pkt_fail(__FILE__, __LINE__,
				 "%s, failure at call %d: page %zu was key %d "
				 "r%d w%d, is key %d r%d w%d", call, nth, i,
				 before[i].key, before[i].read, before[i].write,
				 now.key, now.read, now.write);
	}
}

enum op { OP_MPROTECT, OP_PROTECT, OP_UNPROTECT, OP_PLAIN_MPROTECT };

/*
 * Fail the op's first, second, ... protection call until it succeeds;
 * every failure must be `want` with the pages as before.
 */
static void range_op_injected(enum op op, char *p, size_t n, int key, int err,
			      int want)
{
	static const char *const names[] = {"pk_mprotect", "pk_protect_range",
					    "pk_unprotect_range", "mprotect"};
	struct state before[4];
	size_t len = n * pkt_page();
	int rc, failures = 0;

	for (size_t i = 0; i < n; i++)
		before[i] = state_of(p + i * pkt_page());
	for (int nth = 1;; nth++) {
		pk__test_fail_protect(nth, err);
		if (op == OP_MPROTECT)
			rc = pk_mprotect(p, len, PROT_READ | PROT_WRITE, key);
		else if (op == OP_PROTECT)
			rc = pk_protect_range(p, len, key, PK_NO_CHECK_AUTHORITY);
		else if (op == OP_UNPROTECT)
			rc = pk_unprotect_range(p, len, PK_NO_CHECK_AUTHORITY);
		else /* the interposed call, with mprotect(2)'s errors */
			rc = mprotect(p, len, PROT_READ) ? -errno : 0;
		pk__test_fail_protect(0, 0);
		if (rc == 0)
			break;
		if (rc != want)
			pkt_fail(__FILE__, __LINE__,
				 "%s, failure %d injected at call %d: got %d, "
				 "want %d", names[op], err, nth, rc, want);
		failures++;
		expect_unchanged(p, n, before, names[op], nth);
	}
	if (failures == 0)
		pkt_fail(__FILE__, __LINE__, "%s: no failure reached", names[op]);
}

/*
 * pk_set on a key with pages: the emulation reprotects them, and so does
 * the hardware backend for an evicted key (moving it into a hardware key
 * first; a failure there falls back to eviction, which may succeed).
 */
static void set_injected(int k, char *pages[], int n, int err, int want)
{
	int failures = 0;

	for (int nth = 1; nth <= 24; nth++) {
		int old = pk_get(k), rc, now;
		unsigned rights = (unsigned)old ^ PK_DISABLE_ACCESS;

		pk__test_fail_protect(nth, err);
		rc = pk_set(k, rights);
		pk__test_fail_protect(0, 0);
		if (rc != 0 && rc != want)
			pkt_fail(__FILE__, __LINE__,
				 "pk_set, failure %d injected at call %d: got "
				 "%d, want %d", err, nth, rc, want);
		failures += rc != 0;
		now = pk_get(k);
		CHECK_EQ(now, rc == 0 ? (int)rights : old);
		for (int i = 0; i < n; i++) {
			if (now & PK_DISABLE_ACCESS)
				EXPECT_FAULT(pages[i], R, k);
			else
				EXPECT_OK(pages[i], W);
		}
	}
	/* Hardware: a move that failed may have fallen back to eviction. */
	if (!pkt_exact())
		CHECK(failures > 0);
}

void test_injected_errors(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(INJ_KEYS + 11, PROT_READ | PROT_WRITE);
	char *q, *set_pages[3];
	int keys[INJ_KEYS], k;

	for (int i = 0; i < INJ_KEYS; i++) {
		keys[i] = pkt_key(0);
		CHECK_EQ(pk_protect_range(p + i * pg, pg, keys[i], 0), 0);
	}
	/*
	 * Three pages in different states, each a piece of its own: keyed
	 * and open, unkeyed and read-only, keyed and write-disabled.
	 */
	q = p + (INJ_KEYS + 1) * pg;
	CHECK_EQ(pk_mprotect(q, pg, PROT_READ | PROT_WRITE, keys[0]), 0);
	CHECK_EQ(pk_mprotect(q + pg, pg, PROT_READ, 0), 0);
	CHECK_EQ(pk_mprotect(q + 2 * pg, pg, PROT_READ | PROT_WRITE, keys[1]),
		 0);
	CHECK_EQ(pk_set(keys[1], PK_DISABLE_WRITE), 0);

	range_op_injected(OP_MPROTECT, q, 3, keys[2], EBADF, -EIO);
	range_op_injected(OP_PROTECT, q, 3, keys[0], EBADF, -EIO);
	range_op_injected(OP_UNPROTECT, q, 3, 0, EBADF, -EIO);
	CHECK_EQ(pk_protect_range(q, 3 * pg, keys[1], 0), 0);
	range_op_injected(OP_PLAIN_MPROTECT, q, 3, 0, EBADF, -ENOMEM);
	CHECK_EQ(pk_protect_range(q, 3 * pg, keys[0], PK_NO_CHECK_AUTHORITY), 0);
	/* Listed for the range calls (reading /proc): kept. */
	range_op_injected(OP_MPROTECT, q, 3, keys[2], EMFILE, -EMFILE);

	/* The last key: evicted on hardware, so pk_set reprotects pages. */
	k = keys[INJ_KEYS - 1];
	for (int i = 0; i < 3; i++) {
		/* Separate ranges: one protection call each. */
		set_pages[i] = p + (INJ_KEYS + 5 + 2 * i) * pg;
		CHECK_EQ(pk_protect_range(set_pages[i], pg, k, 0), 0);
	}
	set_injected(k, set_pages, 3, EBADF, -EIO);
	set_injected(k, set_pages, 3, EMFILE, -ENOMEM);
	/* The other keys' pages are as they were, open. */
	CHECK_EQ(pk_set(keys[1], 0), 0);
	for (int i = 0; i < INJ_KEYS - 1; i++)
		EXPECT_OK(p + i * pg, W);
}

/*
 * A seccomp filter on the calling thread's process: the system calls
 * in nrs do what listed says, every other one (and any call from
 * another architecture's entry) the opposite.  Killing, not failing:
 * the parent sees the call as the child's death.
 */
static unsigned seccomp_arch(void)
{
#if defined(__x86_64__)
	return 0xc000003e; /* AUDIT_ARCH_X86_64 */
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return 0xc0000015; /* AUDIT_ARCH_PPC64LE */
#else
	pkt_skip("no seccomp architecture number for this CPU here");
	return 0;
#endif
}

static void filter_install(struct sock_filter *f, int n)
{
	struct sock_fprog prog = {(unsigned short)n, f};

	CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
	CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0);
}

static void filter_calls(const int *nrs, int n, int allow_listed)
{
	const unsigned arch = seccomp_arch();
	const unsigned listed = allow_listed ? SECCOMP_RET_ALLOW
					     : SECCOMP_RET_KILL_PROCESS;
	const unsigned other = allow_listed ? SECCOMP_RET_KILL_PROCESS
					    : SECCOMP_RET_ALLOW;
	struct sock_filter f[16];
	int i = 0;

	CHECK(n <= 10);
	f[i++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch,
					      1, 0);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, other);
	f[i++] = (struct sock_filter)BPF_STMT(
		BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (int j = 0; j < n; j++) /* a match jumps to the last return */
		f[i++] = (struct sock_filter)BPF_JUMP(
			BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[j],
			(unsigned char)(n - j), 0);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, other);
	f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, listed);
	filter_install(f, i);
}

static void forbid_calls(void)
{
	static const int nrs[] = {SYS_rt_sigprocmask, SYS_mprotect};

	filter_calls(nrs, 2, 0);
}

/*
 * body() in a child that first forbade itself some system calls
 * (forbid: a seccomp filter that kills); the test fails, saying what,
 * unless the child returns 0 from body.
 */
static void in_child(void (*forbid)(void), int (*body)(void), const char *what)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		forbid();
		_exit(body());
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		pkt_fail(__FILE__, __LINE__, "%s (status %#x)", what, status);
}

/*
 * Rights the thread already holds change nothing: no system call at
 * all, on either backend.  A child forbids itself rt_sigprocmask and
 * mprotect with a seccomp filter (either kills it),
 * then repeats the rights it holds through pk_set and a domain.
 */
static int unchanged_key;

static int set_again(void)
{
	struct pk_domain_entry d = {unchanged_key, PK_DISABLE_WRITE};
	struct pk_domain_saved saved;

	for (int i = 0; i < 3; i++)
		if (pk_set(unchanged_key, PK_DISABLE_WRITE) ||
		    pk_get(unchanged_key) != PK_DISABLE_WRITE ||
		    pk_domain_enter(&d, 1, &saved) ||
		    pk_domain_leave(&saved))
			return 2;
	return 0;
}

void test_set_unchanged_no_syscall(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_WRITE);

	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	unchanged_key = k;
	in_child(forbid_calls, set_again,
		 "unchanged rights made a forbidden system call");
	/* A change still works, and needs its calls, in the parent. */
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
}

static void forbid_protection(void)
{
	static const int nrs[] = {
		SYS_mprotect,
#ifdef SYS_pkey_mprotect
		SYS_pkey_mprotect,
#endif
	};

	filter_calls(nrs, (int)(sizeof(nrs) / sizeof(nrs[0])), 0);
}

static int set_all_again(void)
{
	for (int i = 0; i < 3; i++)
		if (pk_set_all(unchanged_key, PK_DISABLE_WRITE) ||
		    pk_get(unchanged_key) != PK_DISABLE_WRITE)
			return 2;
	return 0;
}

void test_set_all_unchanged_no_mprotect(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int k = pkt_key(PK_DISABLE_WRITE);

	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	CHECK_EQ(pk_set_all(k, PK_DISABLE_WRITE), 0);
	unchanged_key = k;
	in_child(forbid_protection, set_all_again,
		 "unchanged rights made a protection call");
	/* A change still works, in the parent. */
	CHECK_EQ(pk_set_all(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
}

/*
 * A change of rights for every thread changes the protection of the
 * key's own pages and of nothing else: the library's state (the
 * keys' initial rights, which the call writes) needs no protection
 * call of its own.  A child's filter kills mprotect and pkey_mprotect
 * at any other address (it killed the call before the initial rights
 * left the sealed key table, on both backends: the table was opened
 * and sealed again around them).
 */
static char *key_page;

static void forbid_other_protection(void)
{
	const unsigned arch = seccomp_arch();
	const uint64_t at = (uint64_t)(uintptr_t)key_page;
	const unsigned arg0 = offsetof(struct seccomp_data, args[0]);
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 2, 0),
#ifdef SYS_pkey_mprotect
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pkey_mprotect, 1, 0),
#else
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 1, 0),
#endif
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		/* Little-endian (both architectures above): low word first. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)at, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0 + 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(at >> 32), 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};

	filter_install(f, (int)(sizeof(f) / sizeof(f[0])));
}

static int set_all_changing(void)
{
	static const unsigned rights[] = {PK_DISABLE_ACCESS, 0,
					  PK_DISABLE_WRITE};

	for (int i = 0; i < 6; i++)
		if (pk_set_all(unchanged_key, rights[i % 3]) ||
		    pk_get(unchanged_key) != (int)rights[i % 3])
			return 2;
	return 0;
}

void test_set_all_protects_key_pages_only(void)
{
	int k = pkt_key(PK_DISABLE_WRITE);

	key_page = pkt_map(1, PROT_READ | PROT_WRITE);
	CHECK_EQ(pk_mprotect(key_page, pkt_page(), PROT_READ | PROT_WRITE, k),
		 0);
	unchanged_key = k;
	/* The same changes here first: whatever the library sets up once
	 * (its scratch space) is there before the child forbids. */
	CHECK_EQ(set_all_changing(), 0);
	in_child(forbid_other_protection, set_all_changing,
		 "pk_set_all changed the protection of other pages");
	EXPECT_OK(key_page, R);
	EXPECT_FAULT(key_page, W, k);
}

/* Nothing that opens, reads or stats a file: no look at /proc. */
static void forbid_files(void)
{
	static const int nrs[] = {
		SYS_openat, SYS_newfstatat, SYS_getdents64, SYS_read,
		SYS_pread64,
#ifdef SYS_open
		SYS_open,
#endif
#ifdef SYS_fstat
		SYS_fstat,
#endif
#ifdef SYS_statx
		SYS_statx,
#endif
	};

	filter_calls(nrs, (int)(sizeof(nrs) / sizeof(nrs[0])), 0);
}

/*
 * A change of rights in a program with one thread takes no look at
 * /proc for threads that could not have started (the C library would
 * know of them), on the emulation (where closing a key open to every
 * thread asks) or on hardware; nor does allocating and freeing a key
 * (which reaches every thread).  A child forbids itself every system
 * call that opens, reads or stats a file, then closes and opens a key,
 * and allocates and frees others.  Where the C library cannot say it
 * has one thread (musl), the library counts the kernel's threads (one
 * fstat) instead: skipped.
 */
static int alone_key;

static int close_open_alloc(void)
{
	for (int i = 0; i < 3; i++)
		if (pk_set(alone_key, PK_DISABLE_ACCESS) ||
		    pk_set(alone_key, 0))
			return 2;
	/* A key allocated and freed: no thread to reach either. */
	for (int i = 0; i < 3; i++) {
		int other = pk_key_alloc(0, 0);

		if (other <= 0 || pk_key_free(other))
			return 3;
	}
	return 0;
}

void test_set_alone_no_proc(void)
{
#if !defined(__GLIBC__) || __GLIBC__ < 2 || \
	(__GLIBC__ == 2 && __GLIBC_MINOR__ < 32)
	pkt_skip("the C library cannot say the program has one thread");
#endif
#if defined(__SANITIZE_THREAD__)
	pkt_skip("the test runner starts a thread first under ThreadSanitizer "
		 "(tests/runner.c)");
#endif
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	/* Open for every thread from the start: a thread unknown to the
	 * library would hold it open, so closing it asks whether any
	 * may exist. */
	int k = pk_key_alloc(0, 0);

	CHECK(k > 0);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, k), 0);
	alone_key = k;
	in_child(forbid_files, close_open_alloc,
		 "a look at /proc, or another file");
	/* The parent closes it, and the page with it. */
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(p, R, k);
}

/*
 * A second copy of the library loaded with dlopen(RTLD_LOCAL) (as
 * Python's ctypes does) while this one serves the program: it stays off
 * (its calls fail with EOPNOTSUPP and its reason says why) instead of
 * keeping a second registry of the same memory; this copy works on.
 * The copy is the preload library, found beside the test program.
 */
void test_second_copy_stays_off(void)
{
	char path[4096], *slash;
	ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
	void *other;
	int (*other_init)(void);
	const char *(*other_reason)(void);
	int k;

	CHECK(n > 0);
	path[n] = 0;
	slash = strrchr(path, '/');
	CHECK(slash != NULL);
	strcpy(slash + 1, "libpkeys_preload.so");
	other = dlopen(path, RTLD_NOW | RTLD_LOCAL);
#ifndef __GLIBC__
	/* musl loads no library with initial-exec TLS through dlopen: the
	 * second copy cannot even start (README, "musl"). */
	if (!other) {
		CHECK(strstr(dlerror(), "initial-exec TLS") != NULL);
		k = pkt_key(PK_DISABLE_ACCESS);
		CHECK_EQ(pk_set(k, 0), 0);
		CHECK_EQ(pk_key_free(k), 0);
		return;
	}
#endif
	CHECK(other != NULL);
	other_init = (int (*)(void))dlsym(other, "pk_init");
	other_reason = (const char *(*)(void))dlsym(other, "pk_backend_reason");
	CHECK(other_init && other_reason);
	CHECK(other_init != pk_init);
	CHECK_EQ(other_init(), -EOPNOTSUPP);
	CHECK(strstr(other_reason(), "another copy of libpkeys") != NULL);
	k = pkt_key(PK_DISABLE_ACCESS);
	CHECK_EQ(pk_set(k, 0), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

/*
 * mremap into a persistent assignment whose key the kernel then refuses
 * to apply (injected): the moved page keeps the key it moved with, as
 * an ordinary assignment, and the persistent assignment ends there
 * (pk_protect_range(3), NOTES).  No key is lost either way.
 */
void test_mremap_into_persist_refused(void)
{
	size_t pg = pkt_page();
	char *hole = pkt_map(1, PROT_READ | PROT_WRITE),
	     *keyed = pkt_map(1, PROT_READ | PROT_WRITE), *q;
	int k = pkt_key(0), m = pkt_key(0);

	CHECK_EQ(munmap(hole, pg), 0);
	CHECK_EQ(pk_protect_range(hole, pg, k, PK_RANGE_PERSIST), 0);
	CHECK_EQ(pk_protect_range(keyed, pg, m, 0), 0);
	pk__test_fail_protect(1, ENOMEM);
	q = mremap(keyed, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	pk__test_fail_protect(0, 0);
	CHECK(q == hole);
	CHECK_EQ(pk_key_of(hole), m);
	CHECK_EQ(pk_key_free(m), -EBUSY);
	CHECK_EQ(pk_set(m, PK_DISABLE_ACCESS), 0);
	EXPECT_FAULT(hole, R, m);
	CHECK_EQ(pk_set(m, 0), 0);
	CHECK_EQ(munmap(hole, pg), 0);
	CHECK_EQ(pk_key_of(hole), 0); /* the persistent assignment ended */
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_key_free(m), 0);
}
