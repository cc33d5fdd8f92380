/* SPDX-License-Identifier: MIT */
/*
 * x86-64: PKU.  The rights register is PKRU, 32 bits, two per key: bit
 * 2k disables access, bit 2k+1 disables writes, so PK_DISABLE_ACCESS (1)
 * and PK_DISABLE_WRITE (2) are the register's own encoding.  RDPKRU and
 * WRPKRU are emitted as bytes so the library builds with any assembler
 * and without -mpku; both raise #UD (SIGILL) unless the kernel enabled
 * PKU (CPUID OSPKE), which pk__arch_probe checks first.
 */
#ifndef PK_ARCH_X86_H
#define PK_ARCH_X86_H

#include <cpuid.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include "pkeys.h"

#define PK__ARCH_KEYS 1
#define PK__ARCH_PAGE_MAX 4096
#define PK__ARCH_FAULT_INFO 1
#define PK__ARCH_NAME "x86_pku"
#define PK__ARCH_HW_KEYS 16
#define PK__ARCH_HANDLER_RESETS 1

typedef uint32_t pk__arch_reg;

/* CPUID.(EAX=7,ECX=0):ECX bit 3 = PKU, bit 4 = OSPKE, bit 16 = LA57. */
static inline unsigned pk__x86_cpuid7_ecx(void)
{
	unsigned a, b, c, d;

	if (__get_cpuid_max(0, 0) < 7)
		return 0;
	__cpuid_count(7, 0, a, b, c, d);
	return c;
}

static inline void pk__arch_features(int *cpu, int *os)
{
	unsigned c = pk__x86_cpuid7_ecx();

	*cpu = (c >> 3) & 1;
	*os = (c >> 4) & 1;
}

/*
 * CPUID faulting (arch_prctl ARCH_SET_CPUID): asking for the mode
 * programs always have, CPUID working, changes nothing where the kernel
 * offers it and fails with ENODEV where the CPU lacks it.
 */
static inline int pk__arch_feature_trap(void)
{
	return syscall(SYS_arch_prctl, 0x1012 /* ARCH_SET_CPUID */, 1L) == 0;
}

static inline int pk__arch_probe(char *why, size_t len)
{
	int pku, ospke;

	pk__arch_features(&pku, &ospke);
	if (!pku) {
		snprintf(why, len, "the CPU has no PKU (CPUID.7.0:ECX bit 3)");
		return -EOPNOTSUPP;
	}
	if (!ospke) {
		snprintf(why, len, "the kernel has not enabled PKU (OSPKE clear)");
		return -EOPNOTSUPP;
	}
	snprintf(why, len, "CPU has PKU and OSPKE");
	return 0;
}

static inline pk__arch_reg pk__arch_read(void)
{
	uint32_t eax, edx;

	__asm__ volatile(".byte 0x0f,0x01,0xee"
			 : "=a"(eax), "=d"(edx)
			 : "c"(0));
	return eax;
}

static inline void pk__arch_write(pk__arch_reg pkru)
{
	/* The memory clobber keeps accesses from moving across the switch. */
	__asm__ volatile(".byte 0x0f,0x01,0xef"
			 :
			 : "a"(pkru), "c"(0), "d"(0)
			 : "memory");
}

static inline pk__arch_reg pk__arch_bits(int hw, unsigned rights)
{
	return (pk__arch_reg)rights << (2 * hw);
}

/* RDPKRU always reads the true PKRU. */
static inline int pk__arch_exact(void)
{
	return 1;
}

/* RDPKRU, clear, set, WRPKRU: ECX stays 0 for both, EDX is zeroed. */
static inline void pk__arch_update(pk__arch_reg clear, pk__arch_reg set)
{
	uint32_t v, edx;

	__asm__ volatile(".byte 0x0f,0x01,0xee\n\t" /* RDPKRU */
			 "and %[keep], %%eax\n\t"
			 "or %[set], %%eax\n\t"
			 "xor %%edx, %%edx\n\t"
			 ".byte 0x0f,0x01,0xef" /* WRPKRU */
			 : "=&a"(v), "=&d"(edx)
			 : "c"(0), [keep] "r"(~clear), [set] "r"(set)
			 : "memory");
	(void)v;
	(void)edx;
}

static inline unsigned pk__arch_rights(pk__arch_reg v, int hw)
{
	return (v >> (2 * hw)) & 3u;
}

/*
 * SHR takes its count modulo 32, so 2n needs no masking for n modulo
 * 16 (C would call a count of 32 or more undefined: hence the asm).
 */
static inline unsigned pk__arch_rights_mod(pk__arch_reg v, unsigned n)
{
	__asm__("shrl %%cl, %0" : "+r"(v) : "c"(2 * n));
	return v & 3u;
}

/*
 * The kernel enters signal handlers with its own PKRU and loads the
 * frame's on return, so the interrupted code's PKRU lives in the XSAVE
 * image of the signal frame: state component 9, at the offset CPUID
 * leaf 0xD subleaf 9 gives.  A component absent from XSTATE_BV holds
 * its initial value, 0.
 */
static inline int pk__x86_xsave_pkru_offset(const ucontext_t *u,
					    const unsigned char **fp)
{
	unsigned a, b, c, d;
	uint32_t magic, size;

	if (!u || !u->uc_mcontext.fpregs)
		return -1;
	*fp = (const unsigned char *)u->uc_mcontext.fpregs;
	memcpy(&magic, *fp + 464, 4);	   /* sw_reserved.magic1 */
	memcpy(&size, *fp + 464 + 16, 4); /* sw_reserved.xstate_size */
	if (magic != 0x46505853u)	   /* FP_XSTATE_MAGIC1 */
		return -1;
	__cpuid_count(0xd, 9, a, b, c, d);
	if (a < 4 || b + 4 > size)
		return -1;
	return (int)b;
}

static inline int pk__arch_frame_read(const void *uc, pk__arch_reg *v)
{
	const unsigned char *fp;
	int off = pk__x86_xsave_pkru_offset(uc, &fp);
	uint64_t bv;

	if (off < 0)
		return -1;
	memcpy(&bv, fp + 512, 8); /* xsave header: XSTATE_BV */
	*v = 0;
	if (bv & (1u << 9))
		memcpy(v, fp + off, 4);
	return 0;
}

static inline void pk__arch_frame_write(void *uc, pk__arch_reg v)
{
	const unsigned char *cfp;
	int off = pk__x86_xsave_pkru_offset(uc, &cfp);
	unsigned char *fp = (unsigned char *)cfp;
	uint64_t bv;

	if (off < 0)
		return;
	memcpy(fp + off, &v, 4);
	memcpy(&bv, fp + 512, 8);
	bv |= 1u << 9;
	memcpy(fp + 512, &bv, 8);
}

static inline int pk__arch_fault_info(const void *ucv, int *access, void **ip)
{
	const ucontext_t *uc = ucv;
	long err;

	if (!uc)
		return 0;
	err = uc->uc_mcontext.gregs[REG_ERR];
	/* Bit 1 of the page-fault error code: the access was a write. */
	*access = (err & 2) ? PK_ACCESS_WRITE : PK_ACCESS_READ;
	*ip = (void *)uc->uc_mcontext.gregs[REG_RIP];
	/* Bit 4: an instruction fetch. */
	return (err & 0x10) != 0;
}

/*
 * The trap flag (RFLAGS bit 8): set in the frame, the interrupted code
 * runs one instruction after the handler returns and then gets SIGTRAP
 * with TRAP_TRACE (a repeated string instruction: one iteration), and so
 * on while the flag stays set in each trap's frame.
 */
#define PK__ARCH_STEP 1

static inline void pk__arch_step(void *ucv, int on)
{
	ucontext_t *uc = ucv;

	if (on)
		uc->uc_mcontext.gregs[REG_EFL] |= 0x100;
	else
		uc->uc_mcontext.gregs[REG_EFL] &= ~0x100L;
}

/* Whether the interrupted code's next instruction enters the kernel
 * (SYSCALL 0F 05, INT 0x80 CD 80). */
static inline int pk__arch_at_syscall(const void *ucv)
{
	const ucontext_t *uc = ucv;
	const unsigned char *ip =
		(const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];

	return (ip[0] == 0x0f && ip[1] == 0x05) ||
	       (ip[0] == 0xcd && ip[1] == 0x80);
}

/*
 * RDPKRU (0F 01 EE) and WRPKRU (0F 01 EF) executed by the program on a
 * CPU without PKU raise #UD (SIGILL, ILL_ILLOPN) at the instruction: the
 * emulation carries them out from the handler (compat/rights_insn.c).
 * On PKU hardware both raise #GP (SIGSEGV, SI_KERNEL, address 0) when
 * ECX is not 0, and WRPKRU also when EDX is not 0.
 */
#define PK__ARCH_INSN 1
#define PK__ARCH_INSN_READ 1
#define PK__ARCH_INSN_WRITE 2

/* Which of the two the interrupted code's next instruction is, or 0. */
static inline int pk__arch_insn(const void *ucv)
{
	const ucontext_t *uc = ucv;
	const unsigned char *ip =
		(const unsigned char *)uc->uc_mcontext.gregs[REG_RIP];

	if (ip[0] != 0x0f || ip[1] != 0x01)
		return 0;
	return ip[2] == 0xee ? PK__ARCH_INSN_READ
	       : ip[2] == 0xef ? PK__ARCH_INSN_WRITE
			       : 0;
}

/*
 * Whether the CPU would refuse it (#GP), and else the value written
 * (WRPKRU: EAX).
 */
static inline int pk__arch_insn_faults(const void *ucv, int op,
				       uint64_t *value)
{
	const ucontext_t *uc = ucv;
	uint32_t ecx = (uint32_t)uc->uc_mcontext.gregs[REG_RCX];
	uint32_t edx = (uint32_t)uc->uc_mcontext.gregs[REG_RDX];

	*value = (uint32_t)uc->uc_mcontext.gregs[REG_RAX];
	return ecx != 0 || (op == PK__ARCH_INSN_WRITE && edx != 0);
}

/* Key n's rights in a value of the register, and back. */
static inline uint64_t pk__arch_insn_bits(int n, unsigned rights)
{
	return (uint64_t)(rights & 3u) << (2 * n);
}

static inline unsigned pk__arch_insn_rights(uint64_t v, int n)
{
	return (unsigned)(v >> (2 * n)) & 3u;
}

/* Complete it: RDPKRU's result in EAX (EDX 0), and on to the next. */
static inline void pk__arch_insn_done(void *ucv, int op, uint64_t read)
{
	ucontext_t *uc = ucv;

	if (op == PK__ARCH_INSN_READ) {
		uc->uc_mcontext.gregs[REG_RAX] = (greg_t)(uint32_t)read;
		uc->uc_mcontext.gregs[REG_RDX] = 0;
	}
	uc->uc_mcontext.gregs[REG_RIP] += 3;
}

/*
 * A system call a seccomp filter trapped (SIGSYS, SYS_SECCOMP): its
 * arguments from the frame (RDI, RSI, RDX, R10, R8, R9) and its result
 * into RAX, where the kernel would have put it (-errno on failure).  The
 * filter checks the call's ABI against PK__ARCH_AUDIT.
 */
#define PK__ARCH_SYSCALL_TRAP 1
#define PK__ARCH_AUDIT 0xc000003eu /* AUDIT_ARCH_X86_64 */

static inline void pk__arch_syscall_args(const void *ucv, long args[6])
{
	const ucontext_t *uc = ucv;
	static const int regs[6] = {REG_RDI, REG_RSI, REG_RDX,
				    REG_R10, REG_R8, REG_R9};

	for (int i = 0; i < 6; i++)
		args[i] = (long)uc->uc_mcontext.gregs[regs[i]];
}

static inline void pk__arch_syscall_return(void *ucv, long rv)
{
	((ucontext_t *)ucv)->uc_mcontext.gregs[REG_RAX] = (greg_t)rv;
}

/*
 * The address just after the first SYSCALL instruction (0f 05) in the
 * first 64 bytes of the function at fn, or 0: what a seccomp filter
 * sees as the instruction pointer of a call made there.  glibc's
 * syscall() is a few moves and then the instruction.
 */
static inline uintptr_t pk__arch_syscall_insn_end(const void *fn)
{
	const unsigned char *c = fn;

	for (int i = 0; i + 1 < 64; i++)
		if (c[i] == 0x0f && c[i + 1] == 0x05)
			return (uintptr_t)fn + (uintptr_t)i + 2;
	return 0;
}

/* A system call made here, inline: -errno on failure, as the kernel
 * returns it. */
#define PK__ARCH_SYSCALL6 1

static inline long pk__arch_syscall6(long nr, long a, long b, long c, long d,
				     long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long rv;

	__asm__ volatile("syscall"
			 : "=a"(rv)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
			   "r"(r9)
			 : "rcx", "r11", "memory");
	return rv;
}

/*
 * Where user space may end, less the top page, which x86-64 Linux never
 * maps (TASK_SIZE_MAX): below 2^47 with 4-level paging, below 2^56 with
 * 5-level.  CPUID's LA57 says only that the CPU could page with 5
 * levels; a kernel may still use 4 (no5lvl, older kernels), so the
 * caller asks the kernel which of the two it is (os/page.c).
 */
static inline void pk__arch_user_ends(size_t page, uintptr_t *narrow,
				      uintptr_t *wide)
{
	int la57 = (pk__x86_cpuid7_ecx() >> 16) & 1;

	*narrow = ((uintptr_t)1 << 47) - page;
	*wide = la57 ? ((uintptr_t)1 << 56) - page : *narrow;
}

#endif
