/* SPDX-License-Identifier: MIT */
/*
 * A program written for glibc's protection key calls and nothing else:
 * <sys/mman.h>, no pkeys header, not linked with libpkeys.  It stands for
 * the programs `pkeys run` exists for.  tests/compat/unmodified.sh runs it
 * plainly and under `pkeys run`.
 *
 *   glibc_pkey_program           protect a page, check that a stray write
 *                                is stopped (SIGSEGV, in a forked child)
 *                                and that the write works once pkey_set
 *                                opens the key; then that the program's
 *                                own mprotect, mremap, munmap and mmap
 *                                keep the keys where the kernel keeps them
 *   glibc_pkey_program violate-syscall   the same with the key from
 *                                syscall(SYS_pkey_alloc)
 *   glibc_pkey_program violate   a stray write to a closed page, with no
 *                                handler: the process dies of SIGSEGV
 *   glibc_pkey_program maps      no key call: print /proc/self/maps (what
 *                                a process that uses no key has loaded)
 *   glibc_pkey_program filters   no key call: print the Seccomp_filters
 *                                line of /proc/self/status
 *
 * glibc_pkey_ported is the same source built against <pkeys/glibc.h>.
 *
 * Exit status: 0 every check held ("PASS" printed), 1 a check failed,
 * 2 pkey_alloc failed (this machine has no protection keys).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Built plainly, no pkeys header may come in.  The same source is also
 * built as a port (PKEYS_PORT, with -include pkeys/glibc.h and -lpkeys):
 * the one change glibc code needs to run on pkeys without `pkeys run`.
 */
#if defined(PKEYS_H) && !defined(PKEYS_PORT)
#error "this program must be built without any pkeys header"
#endif

enum outcome { WENT_THROUGH, STOPPED, OTHER };

#include "prog_check.h"

static void no_core(void)
{
	struct rlimit none = {0, 0};

	setrlimit(RLIMIT_CORE, &none);
}

/* Touch p in a child: did the access go through, or did SIGSEGV stop it? */
static enum outcome child_access(char *p, int write)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		no_core();
		signal(SIGSEGV, SIG_DFL);
		if (write)
			*(volatile char *)p = 'w';
		else
			(void)*(volatile char *)p;
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return OTHER;
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
		return STOPPED;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? WENT_THROUGH
							     : OTHER;
}

/* raw: the key from syscall(2), as programs without glibc's wrapper
 * (Rust's libc crate) get theirs. */
static int violate(long pg, int raw)
{
	char *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int key = raw ? (int)syscall(SYS_pkey_alloc, 0, PKEY_DISABLE_ACCESS)
		      : pkey_alloc(0, PKEY_DISABLE_ACCESS);

	if (key < 0) {
		printf("pkey_alloc: %s\n", strerror(errno));
		return 2;
	}
	if (p == MAP_FAILED || pkey_mprotect(p, (size_t)pg,
					     PROT_READ | PROT_WRITE, key)) {
		printf("FAIL: cannot protect a page: %s\n", strerror(errno));
		return 1;
	}
	no_core();
	printf("writing to a page whose key is closed\n");
	fflush(stdout);
	p[0] = 'x';
	printf("FAIL: the write was not stopped\n");
	return 1;
}

static int filters(void)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return 1;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "Seccomp_filters:", 16) == 0)
			fputs(line, stdout);
	fclose(f);
	return 0;
}

static int maps(void)
{
	char buf[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	size_t n;

	if (!f)
		return 1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t len = (size_t)pg;
	char *p, *q, *spot;
	int key;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 2 && strcmp(argv[1], "violate") == 0)
		return violate(pg, 0);
	if (argc == 2 && strcmp(argv[1], "violate-syscall") == 0)
		return violate(pg, 1);
	if (argc == 2 && strcmp(argv[1], "maps") == 0)
		return maps();
	if (argc == 2 && strcmp(argv[1], "filters") == 0)
		return filters();

	key = pkey_alloc(0, PKEY_DISABLE_ACCESS);
	if (key < 0) {
		printf("pkey_alloc: %s\n", strerror(errno));
		return 2;
	}
	p = mmap(NULL, 2 * len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	spot = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || spot == MAP_FAILED) {
		printf("FAIL: mmap: %s\n", strerror(errno));
		return 1;
	}
	strcpy(p, "secret");

	/* Closed: the stray write and read are stopped, the neighbour not. */
	CHECK(pkey_mprotect(p, len, PROT_READ | PROT_WRITE, key) == 0);
	CHECK(pkey_get(key) == PKEY_DISABLE_ACCESS);
	CHECK(child_access(p, 1) == STOPPED);
	CHECK(child_access(p, 0) == STOPPED);
	CHECK(child_access(p + len, 1) == WENT_THROUGH);

	/* Read-only, then open: the write goes through. */
	CHECK(pkey_set(key, PKEY_DISABLE_WRITE) == 0);
	CHECK(pkey_get(key) == PKEY_DISABLE_WRITE);
	CHECK(child_access(p, 0) == WENT_THROUGH);
	CHECK(child_access(p, 1) == STOPPED);
	CHECK(pkey_set(key, 0) == 0);
	CHECK(pkey_get(key) == 0);
	p[0] = 'S';
	CHECK(strcmp(p, "Secret") == 0);

	/* A plain mprotect changes the protection and keeps the key. */
	CHECK(mprotect(p, len, PROT_READ) == 0);
	CHECK(child_access(p, 1) == STOPPED);
	CHECK(pkey_set(key, PKEY_DISABLE_ACCESS) == 0);
	CHECK(child_access(p, 0) == STOPPED);
	CHECK(pkey_set(key, 0) == 0);
	CHECK(child_access(p, 0) == WENT_THROUGH);
	CHECK(mprotect(p, len, PROT_READ | PROT_WRITE) == 0);

	/* mremap moves the key with the page. */
	q = mremap(p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, spot);
	CHECK(q == spot);
	if (q == spot) {
		CHECK(strcmp(q, "Secret") == 0);
		CHECK(pkey_set(key, PKEY_DISABLE_ACCESS) == 0);
		CHECK(child_access(q, 0) == STOPPED);
		/* Fresh memory where the keyed page was has no key. */
		CHECK(mmap(p, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p);
		CHECK(child_access(p, 1) == WENT_THROUGH);
		p[0] = 'p';

		/* Unmapped keyed memory is forgotten: a new mapping at the
		 * same address stays open while the key closes again. */
		CHECK(munmap(q, len) == 0);
		CHECK(mmap(q, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == q);
		CHECK(pkey_set(key, 0) == 0);
		CHECK(pkey_set(key, PKEY_DISABLE_ACCESS) == 0);
		CHECK(child_access(q, 1) == WENT_THROUGH);
		q[0] = 'q';
		CHECK(munmap(q, len) == 0);
	}

	/* glibc's errors. */
	errno = 0;
	CHECK(pkey_alloc(1, 0) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(pkey_set(key, 4) == -1 && errno == EINVAL);
	CHECK(pkey_free(key) == 0);
	errno = 0;
	CHECK(pkey_mprotect(p, len, PROT_READ, key) == -1 && errno == EINVAL);
	CHECK(munmap(p, 2 * len) == 0);

	if (failures)
		return 1;
	printf("PASS: stray accesses stopped, the write works once the key "
	       "is open, keys follow mprotect, mremap, munmap and mmap\n");
	return 0;
}
