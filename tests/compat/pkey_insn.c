/* SPDX-License-Identifier: MIT */
/*
 * A program that reads and writes x86's rights register itself (inline
 * RDPKRU and WRPKRU, as JIT runtimes do) after allocating keys through
 * glibc.  tests/compat/unmodified.sh runs it plainly on hardware keys
 * (the reference) and under `pkeys run` on the emulation, where the
 * instructions raise SIGILL and the library carries them out; the same
 * expectations:
 *
 *   - the read gives each allocated key's rights as pkey_get does;
 *   - a write sets them: pkey_get agrees, and accesses follow (a write
 *     that closes a key makes a store fault with SEGV_PKUERR and the
 *     key; one that opens it lets the store through);
 *   - what was written reads back, bit for bit;
 *   - ECX not 0 is refused as the CPU refuses it: SIGSEGV, si_code
 *     SI_KERNEL (128), the register unchanged;
 *   - an unrelated invalid instruction (UD2) reaches the program's
 *     SIGILL handler with ILL_ILLOPN at its address, and kills the
 *     process where SIGILL is ignored.
 *
 * Prints PASS and exits 0 when every check held; 1 when one failed;
 * 2 when pkey_alloc fails (no keys here), 3 on other CPUs.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "prog_check.h"

#if defined(__x86_64__)
static uint32_t rd(void)
{
	uint32_t a, d;

	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(a), "=d"(d) : "c"(0));
	return a;
}

static void wr(uint32_t v)
{
	__asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(v), "c"(0), "d"(0)
			 : "memory");
}

static void rd_bad_ecx(void)
{
	uint32_t a, d;

	__asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(a), "=d"(d) : "c"(1));
}

static sigjmp_buf jump;
static volatile int got_sig, got_code, got_pkey;
static void *volatile got_addr;

static void on_signal(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	got_sig = sig;
	got_code = info->si_code;
	got_addr = info->si_addr;
	got_pkey = sig == SIGSEGV ? info->si_pkey : 0;
	siglongjmp(jump, 1);
}

static int store_faults(char *p)
{
	got_sig = 0;
	if (sigsetjmp(jump, 1) == 0) {
		*(volatile char *)p = 1;
		return 0;
	}
	return 1;
}

int main(void)
{
	struct sigaction sa;
	char *page;
	int k, k2;
	uint32_t v, closed;
	int status, fds[2];
	pid_t pid;
	char c = 0;
	void *volatile ud2_at = NULL;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	k = pkey_alloc(0, PKEY_DISABLE_WRITE);
	k2 = pkey_alloc(0, 0);
	if (k < 0 || k2 < 0) {
		printf("pkey_alloc: %s\n", strerror(errno));
		return 2;
	}
	page = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(pkey_mprotect(page, 65536, PROT_READ | PROT_WRITE, k) == 0);

	v = rd();
	CHECK(((v >> (2 * k)) & 3) == (uint32_t)pkey_get(k));
	CHECK(((v >> (2 * k2)) & 3) == 0);
	CHECK((v & 3) == 0);
	printf("PASS the read gives pkey_get's rights\n");

	wr(v & ~(3u << (2 * k)));
	CHECK(pkey_get(k) == 0);
	CHECK(!store_faults(page));
	closed = (v & ~(3u << (2 * k))) | (1u << (2 * k));
	wr(closed);
	CHECK(pkey_get(k) == PKEY_DISABLE_ACCESS);
	CHECK(store_faults(page));
	CHECK(got_sig == SIGSEGV && got_code == 4 && got_pkey == k &&
	      got_addr == page);
	/* The handler's rights stay after siglongjmp (x86): ours again. */
	wr(closed);
	CHECK(rd() == closed);
	printf("PASS a write sets the rights, and reads back\n");

	if (sigsetjmp(jump, 1) == 0) {
		rd_bad_ecx();
		CHECK(!"RDPKRU with ECX 1 went through");
	}
	CHECK(got_sig == SIGSEGV && got_code == 128 && got_addr == NULL);
	wr(v);
	CHECK(rd() == v);
	printf("PASS ECX not 0 is refused\n");

	got_sig = 0;
	if (sigsetjmp(jump, 1) == 0) {
		void *at;

		__asm__ volatile("lea 0f(%%rip), %0\n\t"
				 "mov %0, %1\n\t"
				 "0: ud2"
				 : "=&r"(at), "=m"(ud2_at));
		CHECK(!"UD2 went through");
	}
	CHECK(got_sig == SIGILL && got_code == ILL_ILLOPN &&
	      got_addr == ud2_at);
	printf("PASS other invalid instructions reach the program\n");

	/* signal(3) ignoring SIGILL: the register's instructions still
	 * work, and an invalid one kills, as the kernel does not let a
	 * program ignore it. */
	fflush(stdout);
	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		alarm(5); /* a loop would end here, with SIGALRM */
		signal(SIGILL, SIG_IGN);
		(void)rd();
		(void)!write(fds[1], "r", 1);
		__asm__ volatile("ud2");
		_exit(0);
	}
	close(fds[1]);
	CHECK(read(fds[0], &c, 1) == 1 && c == 'r');
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGILL);
	printf("PASS with SIGILL ignored: the register works, UD2 kills\n");
	if (failures) {
		printf("%d check(s) failed\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
#else
int main(void)
{
	printf("SKIP: x86-64 only\n");
	return failures ? 1 : 3;
}
#endif
