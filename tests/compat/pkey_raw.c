/* SPDX-License-Identifier: MIT */
/*
 * Protection key system calls made directly with syscall(2), as some
 * programs and test suites do, checked by a program written for the
 * kernel's interface alone.  tests/compat/unmodified.sh runs it plainly
 * on hardware keys (the reference) and under `pkeys run` on the
 * emulation (which traps the calls with seccomp), with the same
 * expectations:
 *
 *   - pkey_alloc gives the lowest free number, pkey_mprotect puts it on
 *     pages, and glibc's pkey_set on it closes them (a store faults
 *     with SEGV_PKUERR and the key);
 *   - mmap, mprotect and munmap made directly: a plain mprotect keeps
 *     the pages' key, as Linux's does;
 *   - the kernel's errors: EINVAL for flags, for rights it does not
 *     know, for an unallocated key and for a second pkey_free;
 *   - the filters leave the process's speculation controls as they
 *     were (no forced store bypass mitigation);
 *   - a SIGSYS from a seccomp filter of the program's own still reaches
 *     its handler, with its own data.
 *
 * Prints PASS and exits 0 when every check held; 1 when one failed;
 * 2 when pkey_alloc fails (no keys here).
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "prog_check.h"

static sigjmp_buf jump;
static volatile int got_code, got_pkey, got_errno;

static void on_signal(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	got_code = info->si_code;
	got_pkey = sig == SIGSEGV ? info->si_pkey : 0;
	got_errno = info->si_errno;
	if (sig == SIGSEGV)
		siglongjmp(jump, 1);
}

/* The program's own filter: getppid traps with data 7. */
static int own_filter(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP | 7),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = 4, .filter = f};

	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	       syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

int main(void)
{
	struct sigaction sa;
	long k, k2, rc;
	char *page, *q;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGSYS, &sa, NULL);
	k = syscall(SYS_pkey_alloc, 0UL, 0UL);
	if (k < 0) {
		printf("pkey_alloc: %s\n", strerror(errno));
		return 2;
	}
	CHECK(k == 1);
	page = mmap(NULL, 65536, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(syscall(SYS_pkey_mprotect, page, 65536UL, PROT_READ | PROT_WRITE,
		      k) == 0);
	CHECK(pkey_set((int)k, PKEY_DISABLE_WRITE) == 0);
	if (sigsetjmp(jump, 1) == 0) {
		*(volatile char *)page = 1;
		CHECK(!"the store went through");
	}
	CHECK(got_code == 4 && got_pkey == k);
	CHECK(pkey_set((int)k, 0) == 0);
	*(volatile char *)page = 1;
	printf("PASS alloc, mprotect and a key fault\n");

	/* Mapping calls made directly: a plain mprotect keeps the key. */
	q = (char *)syscall(SYS_mmap, NULL, 65536UL,
			    (unsigned long)(PROT_READ | PROT_WRITE),
			    (unsigned long)(MAP_PRIVATE | MAP_ANONYMOUS), -1L, 0L);
	CHECK(q != MAP_FAILED);
	CHECK(pkey_mprotect(q, 65536, PROT_READ | PROT_WRITE, (int)k) == 0);
	CHECK(pkey_set((int)k, PKEY_DISABLE_WRITE) == 0);
	CHECK(syscall(SYS_mprotect, q, 65536UL,
		      (unsigned long)(PROT_READ | PROT_WRITE)) == 0);
	got_code = 0;
	if (sigsetjmp(jump, 1) == 0) {
		*(volatile char *)q = 1;
		CHECK(!"the store after a plain mprotect went through");
	}
	CHECK(got_code == 4 && got_pkey == k);
	CHECK(pkey_set((int)k, 0) == 0);
	*(volatile char *)q = 1;
	CHECK(syscall(SYS_munmap, q, 65536UL) == 0);
	printf("PASS mapping calls keep the key\n");

	errno = 0;
	CHECK(syscall(SYS_pkey_alloc, 1UL, 0UL) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(syscall(SYS_pkey_alloc, 0UL, 0x100UL) == -1 && errno == EINVAL);
	errno = 0;
	rc = syscall(SYS_pkey_mprotect, page, 65536UL, PROT_READ, k + 5);
	CHECK(rc == -1 && errno == EINVAL);
	k2 = syscall(SYS_pkey_alloc, 0UL, 0UL);
	CHECK(k2 == k + 1);
	CHECK(syscall(SYS_pkey_free, k2) == 0);
	errno = 0;
	CHECK(syscall(SYS_pkey_free, k2) == -1 && errno == EINVAL);
	CHECK(syscall(SYS_pkey_alloc, 0UL, 0UL) == k2);
	printf("PASS the kernel's answers\n");

#if defined(PR_GET_SPECULATION_CTRL) && defined(PR_SPEC_FORCE_DISABLE)
	/* Filters that emulate confine nothing: they must not bring the
	 * speculative store bypass mitigation that kernels before 5.16 (or
	 * booted with spec_store_bypass_disable=seccomp) force on a process
	 * with a filter.  Before the program's own filter, which does. */
	rc = prctl(PR_GET_SPECULATION_CTRL, PR_SPEC_STORE_BYPASS, 0, 0, 0);
	CHECK(rc < 0 || !(rc & PR_SPEC_FORCE_DISABLE));
	printf("PASS no speculation mitigation forced\n");
#endif

	CHECK(own_filter() == 0);
	got_code = 0;
	syscall(SYS_getppid);
	CHECK(got_code == 1 /* SYS_SECCOMP */ && got_errno == 7);
	printf("PASS the program's own filter\n");
	if (failures) {
		printf("%d check(s) failed\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
