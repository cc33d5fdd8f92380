/* SPDX-License-Identifier: MIT */
/* ppc-probe: smoke test of the POWER VM harness (tests/vm/run-in-vm.sh -a
 * ppc64le), as pkey-probe.c is for x86.  Self-contained on purpose: it must
 * tell "the VM has working keys" apart from "the library is broken".
 * Exit 0 only if a write to a fresh page whose key is write-disabled in the
 * AMR faults with SEGV_PKUERR and the right si_pkey, a read of such a page
 * works, and a read of a fresh page whose key is access-disabled faults.
 *
 * Build: powerpc64le-linux-gnu-gcc -O2 -Wall -o ppc-probe tests/vm/ppc-probe.c
 *
 * The AMR holds two bits per key, key k at shift 2*(31-k): 0b10 disables
 * writes, 0b11 all access.  Under QEMU a user-mode mfspr of the AMR reads 0
 * whatever was written, so the probe never reads-modifies-writes it: it
 * writes whole values it computed. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if !defined(__powerpc64__)
#error "ppc-probe is for ppc64 (use pkey-probe.c on x86)"
#endif

#ifndef SEGV_PKUERR
#define SEGV_PKUERR 4
#endif

static int the_key = -1;
static sigjmp_buf jump;
static volatile sig_atomic_t armed;
static volatile int got_code, got_pkey;
static void *volatile got_addr;

static unsigned long amr_read(void)
{
    unsigned long v;
    __asm__ volatile("mfspr %0, 13" : "=r"(v));
    return v;
}

static void amr_write(unsigned long v)
{
    /* isync: the new rights apply to the accesses that follow. */
    __asm__ volatile("isync; mtspr 13, %0; isync" : : "r"(v) : "memory");
}

static unsigned long amr_bits(int key, unsigned long rights)
{
    return rights << (2 * (31 - key));
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    int pkey;
    /* glibc 2.36 has no named si_pkey field; the kernel puts it at 0x20
     * (after si_addr and si_addr_lsb), as on x86-64. */
    memcpy(&pkey, (char *)si + 0x20, sizeof pkey);
    if (!armed) {
        printf("unexpected SIGSEGV: si_code=%d si_pkey=%d addr=%p\n",
               si->si_code, pkey, si->si_addr);
        fflush(stdout);
        _exit(1);
    }
    armed = 0;
    got_code = si->si_code;
    got_pkey = pkey;
    got_addr = si->si_addr;
    amr_write(0); /* the AMR is not restored on sigreturn: open up */
    siglongjmp(jump, 1);
}

/* 1 if the access faulted (details in got_*), 0 if it went through. */
static int touch(volatile char *p, int write)
{
    got_code = got_pkey = -1;
    got_addr = NULL;
    if (sigsetjmp(jump, 1) == 0) {
        armed = 1;
        if (write)
            *p = 2;
        else
            (void)*p;
        armed = 0;
        return 0;
    }
    return 1;
}

static int expect_fault(const char *what, volatile char *p, int write)
{
    if (!touch(p, write)) {
        printf("%s: did not fault\n", what);
        return 1;
    }
    int ok = got_code == SEGV_PKUERR && got_pkey == the_key &&
             got_addr == (void *)p;
    printf("%s: SIGSEGV si_code=%d si_pkey=%d addr %s -> %s\n", what,
           got_code, got_pkey, got_addr == (void *)p ? "ok" : "wrong",
           ok ? "ok" : "WRONG");
    return !ok;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep order with perror() when piped */
    long pg = sysconf(_SC_PAGESIZE);
    printf("page size: %ld\n", pg);

    /* How many keys: allocate until the kernel says no, keep the first. */
    int keys[64], n = 0;
    long k;
    while (n < 64 && (k = syscall(SYS_pkey_alloc, 0UL, 0UL)) >= 0)
        keys[n++] = (int)k;
    int err = errno;
    printf("pkey_alloc: %d keys:", n);
    for (int i = 0; i < n; i++)
        printf(" %d", keys[i]);
    printf(" (then: %s)\n", n < 64 ? strerror(err) : "stopped at 64");
    if (n == 0)
        return 1;
    for (int i = 1; i < n; i++)
        if (syscall(SYS_pkey_free, (unsigned long)keys[i])) {
            perror("pkey_free");
            return 1;
        }
    the_key = keys[0];

    /* Three pages of the key, none touched yet. */
    volatile char *p = mmap(NULL, 3 * pg, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    if (syscall(SYS_pkey_mprotect, (void *)p, 3 * pg, PROT_READ | PROT_WRITE,
                (long)the_key)) {
        perror("pkey_mprotect");
        return 1;
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);

    int bad = 0;
    printf("amr read: 0x%016lx (QEMU reads 0 in user mode)\n", amr_read());
    unsigned long wd = amr_bits(the_key, 2), ad = amr_bits(the_key, 3);

    amr_write(wd);
    printf("key %d write-disabled: amr 0x%016lx\n", the_key, wd);
    if (touch(p, 0)) {
        printf("read of page 0: SIGSEGV si_code=%d si_pkey=%d -> WRONG\n",
               got_code, got_pkey);
        bad = 1;
        amr_write(wd);
    } else {
        puts("read of page 0: ok");
    }
    bad |= expect_fault("write to page 1", p + pg, 1);

    amr_write(ad);
    printf("key %d access-disabled: amr 0x%016lx\n", the_key, ad);
    bad |= expect_fault("read of page 2", p + 2 * pg, 0);

    amr_write(0);
    if (touch(p + 2 * pg, 1)) {
        printf("write to page 2 with the key open: SIGSEGV si_code=%d\n",
               got_code);
        bad = 1;
    } else {
        puts("write to page 2 with the key open: ok");
    }
    puts(bad ? "ppc-probe: FAILED" : "ppc-probe: keys work");
    return bad;
}
