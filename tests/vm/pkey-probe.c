/* SPDX-License-Identifier: MIT */
/* pkey-probe: smoke test of the PKU VM harness (tests/vm/run-in-vm.sh).
 * Self-contained on purpose: it must tell "the VM has working PKU" apart
 * from "the library is broken".  Exit 0 only if a write to a page whose key
 * is write-disabled in PKRU faults with SEGV_PKUERR and the right si_pkey. */
#define _GNU_SOURCE
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SEGV_PKUERR
#define SEGV_PKUERR 4
#endif

static int the_key = -1;

/* Raw opcodes so that old assemblers and -march settings do not matter. */
static unsigned rdpkru(void)
{
    unsigned eax, edx;
    __asm__ volatile(".byte 0x0f,0x01,0xee" : "=a"(eax), "=d"(edx) : "c"(0));
    return eax;
}

static void wrpkru(unsigned v)
{
    __asm__ volatile(".byte 0x0f,0x01,0xef" : : "a"(v), "c"(0), "d"(0) : "memory");
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    int pkey;
    /* glibc 2.36 has no named si_pkey field; the kernel puts it at 0x20. */
    memcpy(&pkey, (char *)si + 0x20, sizeof pkey);
    printf("SIGSEGV: si_code=%d si_pkey=%d\n", si->si_code, pkey);
    fflush(stdout);
    _exit(si->si_code == SEGV_PKUERR && pkey == the_key ? 0 : 1);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep order with perror() when piped */
    unsigned a, b, c = 0, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        c = 0;
    int pku = (c >> 3) & 1, ospke = (c >> 4) & 1;
    printf("cpuid: pku=%d ospke=%d\n", pku, ospke);

    long key = syscall(SYS_pkey_alloc, 0UL, 0UL);
    if (key < 0) {
        perror("pkey_alloc");
        return 1;
    }
    the_key = (int)key;
    printf("pkey_alloc: %ld\n", key);
    if (!ospke) {
        puts("OSPKE clear: not touching PKRU");
        return 1;
    }

    long pg = sysconf(_SC_PAGESIZE);
    volatile char *p = mmap(NULL, pg, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (syscall(SYS_pkey_mprotect, (void *)p, pg, PROT_READ | PROT_WRITE, key)) {
        perror("pkey_mprotect");
        return 1;
    }
    p[0] = 1; /* still writable: key has no restrictions yet */

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    unsigned pkru = rdpkru();
    printf("pkru before: 0x%08x\n", pkru);
    wrpkru(pkru | 2u << (2 * key)); /* bit 2k+1 = write-disable */
    printf("pkru after:  0x%08x\n", rdpkru());
    fflush(stdout);

    p[0] = 2;
    puts("write did not fault");
    return 1;
}
