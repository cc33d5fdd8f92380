/* SPDX-License-Identifier: MIT */
/*
 * The rights register's own instructions, executed by the program, on
 * the emulation: a program that allocates keys through the glibc layer
 * (under `pkeys run`, or with <pkeys/glibc.h>) and then reads or writes
 * the register itself (inline assembly, as JIT runtimes do) gets on a
 * CPU without keys SIGILL at the instruction.  The library's SIGILL
 * handler carries it out on the layer's numbers, as the hardware would
 * on the register: a read gives every number's rights of the calling
 * thread (pkey_get), a write sets them all (pkey_set), and the program
 * goes on after the instruction.  What the CPU would refuse (arch/,
 * pk__arch_insn_faults) gets the kernel's answer to it, SIGSEGV with
 * si_code SI_KERNEL and address 0.  Any other SIGILL reaches the
 * program's handler, or the default action, unchanged (os/handlers.c).
 *
 * Key 0's bits are kept per thread and read back, but not enforced:
 * closing key 0 would close all memory.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pkeys.h>

#include "arch/arch.h"
#include "compat/rights_insn.h"
#include "os/handlers.h"

#define NUMBERS 16

static __thread uint64_t key0 __attribute__((tls_model("initial-exec")));
/* The glibc layer's pkey_get and pkey_set (given, to keep the layer's
 * file the one that depends on this one). */
static int (*get_rights)(int);
static int (*set_rights)(int, unsigned);

/* The kernel's answer to an instruction the CPU refuses: SIGSEGV,
 * SI_KERNEL, address 0, delivered when the handler returns. */
static void refuse(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGSEGV;
	si.si_code = SI_KERNEL;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), (int)syscall(SYS_gettid),
		SIGSEGV, &si);
}

static void on_sigill(int sig, siginfo_t *info, void *uc)
{
	int op = pk__arch_insn(uc), saved = errno;
	uint64_t v, read = 0;

	if (!op) {
		pk__handlers_forward(sig, info, uc);
		return;
	}
	if (pk__arch_insn_faults(uc, op, &v)) {
		refuse();
		errno = saved;
		return;
	}
	if (op == PK__ARCH_INSN_READ) {
		read = key0;
		for (int n = 1; n < NUMBERS; n++) {
			int r = get_rights(n);

			read |= pk__arch_insn_bits(
				n, r < 0 ? PK_DISABLE_ACCESS : (unsigned)r);
		}
	} else {
		key0 = pk__arch_insn_bits(0, pk__arch_insn_rights(v, 0));
		for (int n = 1; n < NUMBERS; n++)
			set_rights(n, pk__arch_insn_rights(v, n));
	}
	pk__arch_insn_done(uc, op, read);
	errno = saved;
}

void pk__rights_insn_install(int (*get)(int), int (*set)(int, unsigned))
{
	static int done;

	if (PK__ARCH_INSN && strcmp(pk_backend_name(), "emu") == 0 &&
	    !__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) {
		get_rights = get;
		set_rights = set;
		pk__handlers_own(SIGILL, on_sigill);
	}
}
