/* SPDX-License-Identifier: MIT */
/*
 * libpkeys_report.so: the fault report for programs that `pkeys run`
 * starts on hardware keys.  There the program's own pkey calls reach
 * the kernel unchanged (no library in between, so nothing about its
 * keys changes), and this small object, preloaded, only prints what
 * the library's report would (pk_fault_report(3)) when a key stops an
 * access: the address, read or write, the key, the thread's rights for
 * it, the instruction, a backtrace; then the fault takes its course,
 * as without it.
 *
 * Installed at load when PKEYS_RUN_REPORT=1 (pkeys run sets it); the
 * libraries its backtrace needs load with the process's first key
 * (compat/report_keys.c), and until then it shows none.  A
 * program that installs a SIGSEGV handler of its own replaces it, as
 * on the emulation.  Faults that are not key faults go to the handler
 * found at load, or take the default action, unchanged.
 */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/arch.h"
#include "pkeys.h"
#include "os/backtrace.h"
#include "os/fmt.h"
#include "os/siginfo.h"
#include "os/sigaction.h"

static struct sigaction previous;
static int reported;

#if PK__ARCH_KEYS
/* The interrupted code's rights for the key, as the frame holds them. */
static const char *rights_of(const void *uc, int key)
{
	pk__arch_reg v;
	unsigned r;

	if (key < 0 || key >= PK__ARCH_HW_KEYS || pk__arch_frame_read(uc, &v))
		return "unknown rights";
	r = pk__arch_rights(v, key);
	return r & PK_DISABLE_ACCESS ? "access disabled"
	       : r & PK_DISABLE_WRITE ? "write disabled"
				      : "full access";
}
#else
static const char *rights_of(const void *uc, int key)
{
	(void)uc;
	(void)key;
	return "unknown rights";
}
#endif

static void report(const siginfo_t *info, const void *uc)
{
	char buf[320];
	struct pk__fmt t = {buf, sizeof(buf), 0};
	void *ip = NULL;
	int access = 0;
	int key = pk__si_pkey(info);

	pk__arch_fault_info(uc, &access, &ip);
	pk__fmt_put(&t, "pkeys: ");
	pk__fmt_put(&t, access == PK_ACCESS_WRITE  ? "write to "
		: access == PK_ACCESS_READ ? "read of "
					   : "access to ");
	pk__fmt_num(&t, (unsigned long)(uintptr_t)info->si_addr, 16);
	pk__fmt_put(&t, " stopped by key ");
	pk__fmt_num(&t, (unsigned long)(uintptr_t)key, 10);
	pk__fmt_put(&t, "; thread ");
	pk__fmt_num(&t, (unsigned long)(uintptr_t)syscall(SYS_gettid), 10);
	pk__fmt_put(&t, " has ");
	pk__fmt_put(&t, rights_of(uc, key));
	pk__fmt_put(&t, " for it; instruction at ");
	pk__fmt_num(&t, (unsigned long)(uintptr_t)ip, 16);
	pk__fmt_put(&t, "\n");
	(void)!write(STDERR_FILENO, buf,
		     t.need < sizeof(buf) ? t.need : sizeof(buf) - 1);

	pk__backtrace_report(STDERR_FILENO, ip);
}

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	if (info->si_code == PK__SEGV_PKUERR &&
	    !__atomic_exchange_n(&reported, 1, __ATOMIC_RELAXED))
		report(info, uc);
	/*
	 * What would have happened without us: the handler found at load,
	 * or the default action when the access runs again.
	 */
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, info, uc);
	} else if (previous.sa_handler != SIG_DFL &&
		   previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
	} else {
		struct sigaction dfl = {.sa_handler = SIG_DFL};

		pk__sigaction_real(SIGSEGV, &dfl, NULL);
	}
}

__attribute__((constructor)) static void install(void)
{
	struct sigaction sa;
	const char *v = getenv("PKEYS_RUN_REPORT");

	if (!v || strcmp(v, "1") != 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	pk__sigaction_real(SIGSEGV, &sa, &previous);
}
