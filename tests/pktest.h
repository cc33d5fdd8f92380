/* SPDX-License-Identifier: MIT */
/* The test harness: checks, skips, and probing accesses for faults. */
#ifndef PKTEST_H
#define PKTEST_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pkeys.h"

#define T(name, timeout) void test_##name(void);
#include "test-list.h"
#undef T

void pkt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond))                                               \
			pkt_fail(__FILE__, __LINE__, "%s", #cond);         \
	} while (0)

/* Compare two integers and show both values when they differ. */
#define CHECK_EQ(a, b)                                                     \
	do {                                                               \
		long long a_ = (long long)(a), b_ = (long long)(b);        \
		if (a_ != b_)                                              \
			pkt_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", \
				 #a, #b, a_, b_);                           \
	} while (0)

/* The test cannot run here; exit 77 with the reason. */
void pkt_skip(const char *why) __attribute__((noreturn));

size_t pkt_page(void);
/* 1 on hardware keys, 0 on the emulation. */
int pkt_exact(void);
/* 1 on the emulation's exact mode (PKEYS_EMU=exact). */
int pkt_exact_mode(void);
/*
 * 1 when each thread's rights are enforced on its own accesses (hardware,
 * and the emulation's exact mode), 0 on the emulation's default mode,
 * where a key's pages open while any thread holds its rights.  Tests use
 * it only where the two documented guarantees differ.
 */
int pkt_per_thread(void);
/*
 * 1 where signal handlers start with the kernel's initial rights and the
 * interrupted rights come back on return (x86, on hardware keys and, as
 * there, on the emulation); 0 where they keep the thread's rights and
 * what they set stays (POWER).
 */
int pkt_handler_resets(void);
/* The first address past user space (TASK_SIZE), or 0 where unknown. */
uintptr_t pkt_user_top(void);
/* The end of the last page a mapping may use there (x86: top less a page). */
uintptr_t pkt_user_end(void);
/* n fresh private anonymous pages with prot; fails the test if it can't. */
char *pkt_map(size_t n, int prot);
/* A key with these rights; fails the test if none is left. */
int pkt_key(unsigned rights);

/*
 * Touch addr (read, or write the byte v) and report the fault, if any:
 * returns 0 when the access went through, 1 when it faulted, with *f as
 * pk_fault_decode filled it.  The thread's rights are restored after a
 * fault (the kernel resets them for the signal handler).
 */
int pkt_access(void *addr, int access, char v, struct pk_fault *f);

/*
 * Make lowered rights visible to this thread's next access on QEMU's
 * POWER machine, whose software TLB keeps a page's old permission until
 * the kernel flushes (pkt_access does it; call it before a pk_try that
 * must fault).  A no-op elsewhere.
 */
void pkt_tlb_flush(void);

/* Assert that the access faults at addr, with this key (-1: no key). */
#define EXPECT_FAULT(addr, access, key)                                    \
	pkt_expect_fault(__FILE__, __LINE__, (addr), (access), (key))
#define EXPECT_OK(addr, access)                                            \
	pkt_expect_ok(__FILE__, __LINE__, (addr), (access))
void pkt_expect_fault(const char *file, int line, void *addr, int access,
		      int key);
void pkt_expect_ok(const char *file, int line, void *addr, int access);

#define R PK_ACCESS_READ
#define W PK_ACCESS_WRITE

#endif
