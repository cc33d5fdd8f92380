/* SPDX-License-Identifier: MIT */
/*
 * 64-bit POWER (ppc64le, ppc64): the AMR register.  Two bits per key,
 * counted from the top: key k's bits sit at shift 2*(31-k), the low one
 * disabling reads and the high one writes, so "no access" is 0b11 and
 * read-only 0b10.  User code may write the AMR (mtspr 13); the hardware
 * keeps the bits of keys the kernel has not given the process (UAMOR),
 * so a whole-register write cannot touch the kernel's reserved keys
 * (0 default, 1 ISA, 2 execute-only, 3 kernel).
 *
 * The library keeps each thread's AMR in a thread-local copy and never
 * reads the register back for its own keys: QEMU's user-mode mfspr of
 * the AMR returns 0, and the copy is cheaper on real hardware too.  The
 * copy starts, in each thread, from one mfspr (the inherited value on
 * hardware), and only the library's own keys' bits are ever taken from
 * the thread's record, so keys the program allocated with raw system
 * calls keep what that first read saw.
 *
 * Signals differ from x86: a handler starts with the interrupted code's
 * AMR, and what it sets stays after it returns (the kernel restores no
 * AMR on sigreturn), so the "frame" is the register itself.
 */
#ifndef PK_ARCH_PPC64_H
#define PK_ARCH_PPC64_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "pkeys.h"

#define PK__ARCH_PPC64 1
#define PK__ARCH_KEYS 1
/* 4K or 64K, as the kernel was built. */
#define PK__ARCH_PAGE_MAX 65536
#define PK__ARCH_FAULT_INFO 1
#define PK__ARCH_NAME "power_amr"
#define PK__ARCH_HW_KEYS 32
#define PK__ARCH_HANDLER_RESETS 0

typedef uint64_t pk__arch_reg;

/*
 * The thread's AMR as last written; PK__PPC_AMR_UNREAD until the first
 * read (a value no thread has: key 0's bits are never set).
 */
#define PK__PPC_AMR_UNREAD (~(uint64_t)0)
extern __thread uint64_t pk__ppc_amr __attribute__((tls_model("initial-exec")));

/* ISA 2.06 (POWER7) and later have a user-writable AMR. */
#define PK__PPC_HWCAP_ARCH_2_06 0x00000100ul

/* Programs learn POWER's features from the auxiliary vector (AT_HWCAP,
 * AT_HWCAP2), not from an instruction: nothing to trap. */
static inline int pk__arch_feature_trap(void)
{
	return 0;
}

static inline void pk__arch_features(int *cpu, int *os)
{
	long key;

	*cpu = (getauxval(AT_HWCAP) & PK__PPC_HWCAP_ARCH_2_06) != 0;
	*os = 0;
#ifdef SYS_pkey_alloc
	/* The kernel enabled keys when it hands one out (hash MMU). */
	if (*cpu && (key = syscall(SYS_pkey_alloc, 0UL, 0UL)) >= 0) {
		syscall(SYS_pkey_free, key);
		*os = 1;
	}
#else
	(void)key;
#endif
}

static inline int pk__arch_probe(char *why, size_t len)
{
	if (!(getauxval(AT_HWCAP) & PK__PPC_HWCAP_ARCH_2_06)) {
		snprintf(why, len, "the CPU predates ISA 2.06 (no user AMR)");
		return -EOPNOTSUPP;
	}
	snprintf(why, len, "CPU has the AMR (ISA 2.06)");
	return 0;
}

static inline pk__arch_reg pk__arch_read(void)
{
	uint64_t v = pk__ppc_amr;

	if (v == PK__PPC_AMR_UNREAD) {
		__asm__ volatile("mfspr %0, 13" : "=r"(v));
		pk__ppc_amr = v;
	}
	return v;
}

static inline void pk__arch_write(pk__arch_reg v)
{
	/*
	 * The copy first: a signal handler that lands between the two
	 * rebuilds from the copy and writes the register itself.  isync
	 * makes later accesses see the new AMR; the memory clobber keeps
	 * the compiler from moving accesses across the switch.
	 */
	pk__ppc_amr = v;
	__asm__ volatile("mtspr 13, %0\n\tisync" : : "r"(v) : "memory");
}

/*
 * The copy is exact once this thread wrote the AMR through it; before,
 * the first read is an mfspr, which QEMU answers with 0.
 */
static inline int pk__arch_exact(void)
{
	return pk__ppc_amr != PK__PPC_AMR_UNREAD;
}

static inline void pk__arch_update(pk__arch_reg clear, pk__arch_reg set)
{
	pk__arch_write((pk__arch_read() & ~clear) | set);
}

/*
 * PK_DISABLE_ACCESS (1) -> 0b11, PK_DISABLE_WRITE (2) -> 0b10, both ->
 * 0b11: the access bit also disables writes.  Branch-free.
 */
static inline pk__arch_reg pk__arch_bits(int hw, unsigned rights)
{
	uint64_t bits = (rights | (rights << 1)) & 3u;

	return bits << (2 * (31 - hw));
}

static inline unsigned pk__arch_rights(pk__arch_reg v, int hw)
{
	unsigned bits = (unsigned)(v >> (2 * (31 - hw))) & 3u;

	return bits & 1u ? PK_DISABLE_ACCESS
	       : bits    ? PK_DISABLE_WRITE
			 : 0;
}

static inline unsigned pk__arch_rights_mod(pk__arch_reg v, unsigned n)
{
	return pk__arch_rights(v, (int)(n % PK__ARCH_HW_KEYS));
}

/* A handler runs with the interrupted code's AMR: the register is the frame. */
static inline int pk__arch_frame_read(const void *uc, pk__arch_reg *v)
{
	(void)uc;
	*v = pk__arch_read();
	return 0;
}

static inline void pk__arch_frame_write(void *uc, pk__arch_reg v)
{
	(void)uc;
	pk__arch_write(v);
}

/* gp_regs slots (asm/ptrace.h): PT_NIP 32, PT_TRAP 40, PT_DSISR 42. */
static inline int pk__arch_fault_info(const void *ucv, int *access, void **ip)
{
	const ucontext_t *uc = ucv;
	unsigned long trap;

	if (!uc)
		return 0;
	trap = uc->uc_mcontext.gp_regs[40] & ~0xful;
	*ip = (void *)uc->uc_mcontext.gp_regs[32];
	/* 0x400, 0x480: instruction storage (segment) interrupts. */
	if (trap == 0x400 || trap == 0x480)
		return 1;
	/* DSISR_ISSTORE: the data access was a store. */
	*access = uc->uc_mcontext.gp_regs[42] & 0x02000000ul ? PK_ACCESS_WRITE
							    : PK_ACCESS_READ;
	return 0;
}

/*
 * TASK_SIZE on 64-bit Book3S: 4 PiB (52 bits) with 64 KiB pages, 64 TiB
 * (46 bits) with 4 KiB pages.
 */
static inline void pk__arch_user_ends(size_t page, uintptr_t *narrow,
				      uintptr_t *wide)
{
	*narrow = *wide = (uintptr_t)1 << (page >= 65536 ? 52 : 46);
}

/* No PK__ARCH_STEP: Linux takes only the endianness bit of MSR from a
 * signal frame, so a handler cannot ask for a single step. */
#endif
