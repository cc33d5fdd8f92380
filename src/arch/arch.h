/* SPDX-License-Identifier: MIT */
/*
 * The CPU primitives, one file per CPU family, chosen here at compile
 * time.  Everything above this folder is CPU-neutral: it names keys,
 * rights (PK_DISABLE_*) and "the rights register", never a CPU's.
 * Adding a CPU family means one new file here (and one line below).
 *
 * Every family file defines:
 *
 *   PK__ARCH_FAULT_INFO      1 when pk__arch_fault_info can decode a
 *                            SIGSEGV's context
 *   pk__arch_fault_info(uc, &access, &ip)
 *                            from a SIGSEGV's ucontext: the access kind
 *                            (PK_ACCESS_READ/WRITE) and the faulting
 *                            instruction's address; returns 1 when the
 *                            fault was an instruction fetch (keys never
 *                            stop those), 0 otherwise.  Async-signal-safe.
 *   pk__arch_user_end(page)  the first address past user space
 *   pk__arch_features(&cpu, &os)  for pk_info: the CPU has keys, the
 *                            kernel enabled them (both 0 where unknown)
 *   PK__ARCH_PAGE_MAX        the largest page size Linux uses on the CPU
 *                            (core/seal.h aligns sealed state to it)
 *   pk__arch_feature_trap()  1 when the kernel can make the CPU's
 *                            feature query fault for this process
 *                            (pk_info), else 0
 *   PK__ARCH_STEP            1 when a signal handler can make the
 *                            interrupted code execute one instruction and
 *                            trap (SIGTRAP, TRAP_TRACE), with (undefined
 *                            elsewhere: below, they do nothing)
 *   pk__arch_step(uc, on)    in a signal handler: single-step the
 *                            interrupted code from now on (on) or not
 *   pk__arch_at_syscall(uc)  in a signal handler: 1 when the interrupted
 *                            code's next instruction is a system call
 *   PK__ARCH_INSN            1 when the rights register's instructions
 *                            raise SIGILL on a CPU without keys and can be
 *                            carried out from the handler, with (undefined
 *                            elsewhere: below, they find nothing)
 *   pk__arch_insn(uc)        the interrupted instruction: READ, WRITE or 0
 *   pk__arch_insn_faults(uc, op, &v)   1 when the CPU would refuse it
 *                            (SIGSEGV, SI_KERNEL); else v is the value a
 *                            WRITE writes
 *   pk__arch_insn_done(uc, op, v)   complete it (a READ returns v) and
 *                            go on after it
 *   pk__arch_insn_bits(n, r), pk__arch_insn_rights(v, n)   key n's
 *                            rights r as bits of the register's value v,
 *                            and back
 *   PK__ARCH_SYSCALL_TRAP    1 when a SIGSYS handler can read a trapped
 *                            system call's arguments and give its result,
 *                            with (undefined elsewhere: below, nothing)
 *   PK__ARCH_AUDIT           the AUDIT_ARCH_ value of the ABI the library
 *                            is built for (seccomp_data.arch)
 *   pk__arch_syscall_args(uc, a)   the six arguments
 *   pk__arch_syscall_return(uc, rv)   the result, as the kernel gives it
 *   pk__arch_syscall_insn_end(fn)   the address after the system call
 *                            instruction in a short function (syscall()),
 *                            or 0
 *   pk__arch_syscall6(nr, a..f)   a system call made inline (-errno on
 *                            failure); elsewhere (below) syscall(2)
 *
 * and, where the CPU has protection keys and Linux supports them there
 * (PK__ARCH_KEYS 1), what the hardware backend (backend/hw.c) needs:
 *
 *   PK__ARCH_NAME            the backend's name, as pk_backend_name says
 *   PK__ARCH_HW_KEYS         keys the rights register names, key 0
 *                            included (an upper bound: the kernel says
 *                            how many a process gets)
 *   pk__arch_reg             an unsigned integer type holding the register
 *   pk__arch_probe(why, len) whether the CPU and kernel enable keys,
 *                            decided without executing an instruction
 *                            the CPU may lack: 0, or -EOPNOTSUPP with the
 *                            reason in why.  The backend then tries a
 *                            real pkey_alloc(2).
 *   pk__arch_read()          the calling thread's register (only after
 *                            pk__arch_probe succeeded)
 *   pk__arch_write(v)        set it; a full compiler barrier, so memory
 *                            accesses never move across a rights change
 *   pk__arch_bits(hw, r)     the register bits that give hardware key hw
 *                            the rights r (PK_DISABLE_* bits, checked);
 *                            pk__arch_bits(hw, PK__RIGHTS_MASK) is the
 *                            mask of all of hw's bits
 *   pk__arch_update(c, s)    the register becomes (register & ~c) | s, as
 *                            one read and one write (pk_set's hot path)
 *   pk__arch_exact()         whether pk__arch_read() now returns the
 *                            register's true value, so that changing some
 *                            keys' bits keeps the others right; when 0 the
 *                            backend rebuilds every key's bits instead
 *   pk__arch_rights(v, hw)   the rights (PK_DISABLE_*) register value v
 *                            gives hw; where the register has one
 *                            encoding for "no access" it says
 *                            PK_DISABLE_ACCESS, not both bits
 *   pk__arch_rights_mod(v, n)   the same for hardware key n modulo
 *                            PK__ARCH_HW_KEYS, in as few instructions as
 *                            the CPU allows (a lookup that keeps other
 *                            bits above the key number: backend/hw_fast.h)
 *   pk__arch_frame_read(uc, &v)   in a signal handler: the register of
 *                            the code the signal interrupted (0, or -1
 *                            when the frame does not tell)
 *   pk__arch_frame_write(uc, v)   in a signal handler: make v the
 *                            interrupted code's register once the
 *                            handler returns
 *   PK__ARCH_HANDLER_RESETS  1 when signal handlers start with the
 *                            kernel's initial rights (other keys closed)
 *                            and the interrupted rights come back on
 *                            return; 0 when handlers keep the
 *                            interrupted rights and what they set stays
 */
#ifndef PK_ARCH_ARCH_H
#define PK_ARCH_ARCH_H

#include <stdint.h>

#if defined(PKEYS_NO_HW_KEYS) /* a build without hardware keys, on any CPU */
#include "arch/none.h"
#elif defined(__x86_64__)
#include "arch/x86.h"
#elif defined(__powerpc64__)
#include "arch/ppc64.h"
#else
#include "arch/none.h"
#endif

/* A family without an inline system call: the C library's. */
#ifndef PK__ARCH_SYSCALL6
#include <errno.h>
#include <unistd.h>

static inline long pk__arch_syscall6(long nr, long a, long b, long c, long d,
				     long e, long f)
{
	long rv = syscall(nr, a, b, c, d, e, f);

	return rv == -1 ? -(long)errno : rv;
}
#endif

/* A family whose trapped system calls the library cannot complete. */
#ifndef PK__ARCH_SYSCALL_TRAP
#define PK__ARCH_SYSCALL_TRAP 0
#define PK__ARCH_AUDIT 0u

static inline void pk__arch_syscall_args(const void *uc, long args[6])
{
	(void)uc;
	for (int i = 0; i < 6; i++)
		args[i] = 0;
}

static inline void pk__arch_syscall_return(void *uc, long rv)
{
	(void)uc;
	(void)rv;
}

static inline uintptr_t pk__arch_syscall_insn_end(const void *fn)
{
	(void)fn;
	return 0;
}
#endif

/* A family whose rights register instructions are not emulated. */
#ifndef PK__ARCH_INSN
#define PK__ARCH_INSN 0
#define PK__ARCH_INSN_READ 1
#define PK__ARCH_INSN_WRITE 2

static inline int pk__arch_insn(const void *uc)
{
	(void)uc;
	return 0;
}

static inline int pk__arch_insn_faults(const void *uc, int op,
				       uint64_t *value)
{
	(void)uc;
	(void)op;
	*value = 0;
	return 1;
}

static inline void pk__arch_insn_done(void *uc, int op, uint64_t read)
{
	(void)uc;
	(void)op;
	(void)read;
}

static inline uint64_t pk__arch_insn_bits(int n, unsigned rights)
{
	(void)n;
	(void)rights;
	return 0;
}

static inline unsigned pk__arch_insn_rights(uint64_t v, int n)
{
	(void)v;
	(void)n;
	return 0;
}
#endif

/* A family without single-stepping from a signal handler. */
#ifndef PK__ARCH_STEP
#define PK__ARCH_STEP 0

static inline void pk__arch_step(void *uc, int on)
{
	(void)uc;
	(void)on;
}

static inline int pk__arch_at_syscall(const void *uc)
{
	(void)uc;
	return 0;
}
#endif

#endif
