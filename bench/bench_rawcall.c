/* SPDX-License-Identifier: MIT */
/*
 * bench_rawcall: what a protection key system call made directly costs
 * under `pkeys run` on the emulation (trapped by seccomp, carried out
 * from SIGSYS), against the same call through glibc's function, which
 * the preload library serves without a trap, in the same run.  A plain
 * glibc program, like those pkeys run is for:
 *
 *   pkeys run ./build/bench_rawcall [ROUNDS]
 *
 * Each call re-keys one page to the key it already has (pkey_mprotect),
 * or gives it the protection it has (mprotect, which keeps the key), so
 * both paths do the same work.  Run plainly on hardware keys, both
 * rows are the kernel's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	int k = pkey_alloc(0, 0);
	char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	double t, t_lib, t_raw, t_mlib, t_mraw;

	if (k < 0 || p == MAP_FAILED || n <= 0) {
		perror("bench_rawcall: pkey_alloc");
		return 1;
	}
	t = now();
	for (long i = 0; i < n; i++)
		pkey_mprotect(p, 4096, PROT_READ | PROT_WRITE, k);
	t_lib = (now() - t) / (double)n * 1e6;
	t = now();
	for (long i = 0; i < n; i++)
		syscall(SYS_pkey_mprotect, p, 4096UL,
			(unsigned long)(PROT_READ | PROT_WRITE), (long)k);
	t_raw = (now() - t) / (double)n * 1e6;
	t = now();
	for (long i = 0; i < n; i++)
		mprotect(p, 4096, PROT_READ | PROT_WRITE);
	t_mlib = (now() - t) / (double)n * 1e6;
	t = now();
	for (long i = 0; i < n; i++)
		syscall(SYS_mprotect, p, 4096UL,
			(unsigned long)(PROT_READ | PROT_WRITE));
	t_mraw = (now() - t) / (double)n * 1e6;
	printf("bench_rawcall: %ld rounds\n", n);
	printf("  %-34s %9.3f us\n", "pkey_mprotect (glibc's name)", t_lib);
	printf("  %-34s %9.3f us  (%.1fx)\n", "syscall(SYS_pkey_mprotect)", t_raw,
	       t_raw / t_lib);
	printf("  %-34s %9.3f us\n", "mprotect (glibc's name)", t_mlib);
	printf("  %-34s %9.3f us  (%.1fx)\n", "syscall(SYS_mprotect)", t_mraw,
	       t_mraw / t_mlib);
	return 0;
}
