/* SPDX-License-Identifier: MIT */
/*
 * Key numbers and rights as Linux and glibc give them, checked by a
 * program written for glibc's calls alone (no pkeys header, no
 * libpkeys).  tests/compat/unmodified.sh runs it plainly on hardware
 * keys (the reference: the kernel's behaviour) and under `pkeys run` on
 * the emulation, with the same expectations:
 *
 *   - pkey_alloc hands out the lowest free number, so a freed number
 *     comes straight back, also in a loop that never runs out;
 *   - pkey_free of a number pages still carry succeeds, and the next
 *     owner of the number gets the pages: its rights govern them;
 *   - pkey_get and pkey_set work on numbers nobody holds (the register
 *     has bits for them): access disabled at first, and a freed number
 *     keeps the bits its last owner left in the thread;
 *   - a SIGSEGV handler of the program's sees a key fault as
 *     SEGV_PKUERR (4) with si_pkey the key and si_addr the address;
 *   - after execve the new program starts with access disabled for
 *     every number but 0, whatever the old one had set.
 *
 * Prints PASS and exits 0 when every check held; 1 when one failed;
 * 2 when pkey_alloc fails (no keys here).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prog_check.h"

/* Whether a write to p goes through, tried in a child. */
static int writable(char *p)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		signal(SIGSEGV, SIG_DFL);
		*(volatile char *)p = 1;
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid &&
	       WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static sigjmp_buf jump;
static volatile int got_code, got_pkey;
static void *volatile got_addr;

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	got_code = info->si_code;
	/* si_pkey: after si_addr and the padded si_addr_lsb (64-bit). */
	memcpy((void *)&got_pkey, (char *)info + 0x20, sizeof(int));
	got_addr = info->si_addr;
	siglongjmp(jump, 1);
}

/* The lowest number nobody holds: taken and given back. */
static int lowest_free(void)
{
	int k = pkey_alloc(0, 0);

	if (k > 0)
		pkey_free(k);
	return k;
}

int main(int argc, char **argv)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	char *p;
	int a, b, c, loose;

	if (argc == 3 && strcmp(argv[1], "after-exec") == 0) {
		/* The old program had opened this number. */
		CHECK(pkey_get(atoi(argv[2])) == PKEY_DISABLE_ACCESS);
		printf(failures ? "FAIL after execve\n" : "PASS after execve\n");
		return failures ? 1 : 0;
	}
	a = pkey_alloc(0, 0);
	if (a < 0) {
		printf("pkey_alloc: %s\n", strerror(errno));
		return 2;
	}
	b = pkey_alloc(0, 0);
	CHECK(b == a + 1);
	CHECK(pkey_free(a) == 0);
	c = pkey_alloc(0, 0);
	CHECK(c == a); /* the lowest free number, at once */
	for (int i = 0; i < 1000; i++)
		CHECK(pkey_free(c) == 0 && pkey_alloc(0, 0) == c);

	/* Freed while a page carries it: the next owner gets the page. */
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CHECK(p != MAP_FAILED);
	CHECK(pkey_mprotect(p, pg, PROT_READ | PROT_WRITE, c) == 0);
	CHECK(pkey_free(c) == 0);
	CHECK(pkey_alloc(0, PKEY_DISABLE_WRITE) == c);
	CHECK(!writable(p));
	CHECK(pkey_set(c, 0) == 0);
	CHECK(writable(p));
	CHECK(pkey_free(c) == 0);
	CHECK(pkey_alloc(0, 0) == c); /* and again, in a loop */
	CHECK(munmap(p, pg) == 0);

	/*
	 * A number nobody holds now: its bits stay what the last owner's
	 * pkey_alloc and pkey_set left in this thread (here 0), and read
	 * and write.  One nobody ever held (15) starts access-disabled.
	 */
	loose = lowest_free();
	CHECK(loose > b && loose < 15);
	CHECK(pkey_get(loose) == 0);
	CHECK(pkey_set(loose, PKEY_DISABLE_WRITE) == 0);
	CHECK(pkey_get(loose) == PKEY_DISABLE_WRITE);
	CHECK(pkey_get(15) == PKEY_DISABLE_ACCESS);
	CHECK(pkey_set(15, 0) == 0);
	CHECK(pkey_get(15) == 0);

	/* A key fault, as the program's own handler sees it. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	p = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CHECK(p != MAP_FAILED && pkey_mprotect(p, pg, PROT_READ | PROT_WRITE, b) == 0);
	CHECK(pkey_set(b, PKEY_DISABLE_ACCESS) == 0);
	if (sigsetjmp(jump, 1) == 0) {
		(void)*(volatile char *)(p + 24);
		CHECK(!"the read went through");
	}
	CHECK(got_code == 4); /* SEGV_PKUERR */
	CHECK(got_pkey == b);
	CHECK(got_addr == p + 24);
	CHECK(pkey_set(b, 0) == 0);
	CHECK(munmap(p, pg) == 0);

	/* Rights across execve: what the kernel gives a new program. */
	CHECK(pkey_set(b, 0) == 0);
	CHECK(pkey_get(b) == 0);
	if (failures)
		return 1;
	printf("PASS before execve\n");
	fflush(stdout);
	char num[16];
	snprintf(num, sizeof(num), "%d", b);
	execl("/proc/self/exe", argv[0], "after-exec", num, (char *)NULL);
	printf("FAIL execl: %s\n", strerror(errno));
	return 1;
}
