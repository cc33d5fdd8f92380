/* SPDX-License-Identifier: MIT */
/*
 * The emulation's exact mode (PKEYS_EMU=exact): a thread without rights
 * never reads or writes a key's pages, also while another thread holds
 * them.
 *
 * Pages carry the narrowest rights of the live threads (backend/emu.c,
 * pk__meet_rights), so a thread that lacks rights faults as on
 * hardware.  A thread that holds them faults too; then, in its SIGSEGV
 * handler, every other thread is stopped (backend/sync.c, a hold round),
 * the one page opened as far as the faulting thread's rights go, and the
 * trap flag set: the access runs as one instruction, the CPU traps
 * (SIGTRAP), and the handler of that closes the page again and lets the
 * others go.  While the instruction runs, only the signals that it may
 * itself raise are deliverable, so no handler runs with the page open.
 * An instruction that touches a second closed page faults again and
 * opens that one too (up to STEP_PAGES); a fault the thread's rights do
 * not allow ends the step first and is a key fault as usual.
 *
 * Cost: a stop of every other thread (one signal round trip each), two
 * mprotect calls, a SIGSEGV and a SIGTRAP per access that another
 * thread's narrower rights keep closed.  Accesses where every live
 * thread agrees cost nothing, as in the default mode.
 * Not covered: the kernel's own accesses (read(2) into such a buffer
 * fails with EFAULT for the thread that holds rights, as the page is
 * closed), and threads that block the signal of the hold round (they
 * run on; after one second the step goes ahead without them).
 * x86-64 only: Linux on POWER takes no single-step request from a
 * signal frame (arch/arch.h, PK__ARCH_STEP).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "backend/emu_exact.h"
#include "backend/sync.h"
#include "core/lock.h"
#include "core/registry.h"
#include "core/threads.h"
#include "os/defer.h"
#include "os/handlers.h"
#include "os/page.h"
#include "os/sys.h"

#define STEP_PAGES 4

/* Instructions one step may run before the others go on: each costs a
 * SIGTRAP (about 5 us), and the others wait meanwhile. */
#define STEP_MAX 256

struct step {
	int active;
	int n, count;
	uintptr_t page[STEP_PAGES];
	int key[STEP_PAGES];
	int prot[STEP_PAGES];
	sigset_t mask; /* the interrupted code's */
};

static __thread struct step step __attribute__((tls_model("initial-exec")));

/*
 * How long this thread's last step held the others, and when it ended
 * (CLOCK_MONOTONIC, ns).  A thread that steps in a loop would otherwise
 * stop the others again microseconds after letting them go, and they
 * would crawl (a test's main thread took up to minutes for 400 calls
 * while another thread read a page it kept closed): before its next
 * step it waits half as long as the last one held them (at most
 * PAUSE_MAX), so they run at least a third of the time.  Whether a
 * stopped thread had work to do cannot be told (one waiting in a system
 * call may wait for the stepper), so the pause is paid also when they
 * all sleep: steps back to back cost about 1.5 times as much.
 */
static __thread uint64_t held_ns, ended_ns, began_ns
	__attribute__((tls_model("initial-exec")));
#define PAUSE_MAX 10000000ull

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* nanosleep is async-signal-safe; an interruption just ends the pause. */
static void pause_for_others(void)
{
	uint64_t since = now_ns() - ended_ns, want = held_ns / 2;
	int saved = errno;

	if (want > PAUSE_MAX)
		want = PAUSE_MAX;
	if (ended_ns && since < want) {
		struct timespec ts = {0, (long)(want - since)};

		nanosleep(&ts, NULL);
	}
	errno = saved;
}

/* One step at a time in the process, in turn (a ticket lock: a thread
 * that steps in a loop must not keep one that waits from its turn). */
static unsigned ticket_next, ticket_serving;
static const uint8_t *applied;

/*
 * Whether the calling thread's rights allow the access that faulted at
 * addr: 0 if not (a key fault, or no key's), STEP if the rights applied
 * to the key's pages do not (*prot lets it through), RETRY if they do
 * now (another thread closed the pages for a moment: its signal handler
 * starts with every key closed).  Lock held.
 */
enum { STEP = 1, RETRY = 2 };

static int allowed(uintptr_t addr, int need, int *prot, int *key)
{
	const struct pk__range *r = pk__reg_find(addr);
	unsigned own;

	if (!r || r->key <= 0 || !(r->flags & PK__R_MAPPED) ||
	    !pk__prot_allows(r->prot, need))
		return 0;
	own = pk__rights_of(pk__thread_state, r->key);
	if (!pk__prot_allows(pk__narrow(r->prot, own), need))
		return 0;
	if (pk__prot_allows(pk__narrow(r->prot, applied[r->key]), need))
		return RETRY;
	*prot = pk__narrow(r->prot, own);
	*key = r->key;
	return STEP;
}

/* The step is over: pages closed, the others let go. */
static void finish(void *uc)
{
	pk__lock_take();
	for (int i = 0; i < step.n; i++) {
		const struct pk__range *r = pk__reg_find(step.page[i]);

		if (r && r->key > 0 && (r->flags & PK__R_MAPPED))
			pk__sys_mprotect((void *)step.page[i], pk__page_size(),
					 pk__narrow(r->prot, applied[r->key]));
	}
	pk__lock_drop();
	ended_ns = now_ns();
	held_ns = ended_ns - began_ns;
	pk__arch_step(uc, 0);
	((ucontext_t *)uc)->uc_sigmask = step.mask;
	pk__defer_stepped = 0;
	step.active = 0;
	step.n = step.count = 0;
	pk__sync_release();
	__atomic_add_fetch(&ticket_serving, 1, __ATOMIC_RELEASE);
}

/* Wait for the steps of others, which hold this thread meanwhile. */
static void take_stepper(void)
{
	unsigned mine = __atomic_fetch_add(&ticket_next, 1, __ATOMIC_RELAXED);

	while (__atomic_load_n(&ticket_serving, __ATOMIC_ACQUIRE) != mine)
		syscall(SYS_sched_yield);
}

static void begin(ucontext_t *uc)
{
	sigset_t only;

	pause_for_others();
	take_stepper();
	/* Threads that do not answer run on: nothing better to do. */
	pk__sync_hold_all();
	began_ns = now_ns();
	step.active = 1;
	step.n = step.count = 0;
	step.mask = uc->uc_sigmask;
	sigfillset(&only);
	sigdelset(&only, SIGSEGV);
	sigdelset(&only, SIGBUS);
	sigdelset(&only, SIGILL);
	sigdelset(&only, SIGFPE);
	sigdelset(&only, SIGTRAP);
	uc->uc_sigmask = only;
	pk__defer_stepped = 1;
	pk__arch_step(uc, 1);
}

/* Retries in a row: past this many, a fault is taken as it comes. */
#define RETRIES 1000
static __thread int retries __attribute__((tls_model("initial-exec")));

int pk__exact_fault(siginfo_t *info, void *uc)
{
	uintptr_t addr = (uintptr_t)info->si_addr;
	int access = PK_ACCESS_READ, need = PROT_READ, prot = 0, key = 0;
	int how = 0;
	void *ip;

	if (info->si_code == SEGV_ACCERR && !pk__lock_mine() &&
	    !pk__arch_fault_info(uc, &access, &ip)) {
		need = access == PK_ACCESS_WRITE ? PROT_WRITE : PROT_READ;
		pk__lock_take();
		how = allowed(addr, need, &prot, &key);
		pk__lock_drop();
	}
	if (how == RETRY && ++retries < RETRIES)
		return 1;
	retries = 0;
	if (how != STEP) {
		if (step.active)
			finish(uc);
		return 0;
	}
	/* No room for another page: this step ends, the access comes back
	 * and starts the next. */
	if (step.active && step.n == STEP_PAGES) {
		finish(uc);
		return 1;
	}
	if (!step.active)
		begin(uc);
	/* Again: the registry may have changed before the others stopped. */
	pk__lock_take();
	how = allowed(addr, need, &prot, &key);
	if (how == STEP) {
		step.key[step.n] = key;
		step.prot[step.n] = prot;
		step.page[step.n++] = addr & ~(uintptr_t)(pk__page_size() - 1);
		if (pk__sys_mprotect((void *)step.page[step.n - 1],
				     pk__page_size(), prot))
			how = 0;
	}
	pk__lock_drop();
	/* RETRY: open already, and the others stopped: the step goes on. */
	if (!how)
		finish(uc);
	return how != 0;
}

/*
 * Whether the step may go on for one more instruction: the pages stay
 * open while the thread keeps its rights, for up to STEP_MAX
 * instructions (a loop over the page costs one stop, not one per
 * access), but never into a system call, which could wait for a thread
 * that is stopped.
 */
static int go_on(const void *uc)
{
	if (++step.count >= STEP_MAX || pk__arch_at_syscall(uc))
		return 0;
	for (int i = 0; i < step.n; i++) {
		unsigned own = pk__rights_of(pk__thread_state, step.key[i]);

		if ((pk__narrow(step.prot[i], own) & step.prot[i]) !=
		    step.prot[i])
			return 0;
	}
	return 1;
}

static void on_trap(int sig, siginfo_t *info, void *uc)
{
	if (step.active && info->si_code == TRAP_TRACE) {
		if (!go_on(uc))
			finish(uc);
		return;
	}
	/* Sent by kill() inside the library's lock: after it, as the
	 * wrapper does (os/defer.h). */
	if (!pk__defer_hold(sig, info, uc, pk__handlers_forward))
		pk__handlers_forward(sig, info, uc);
}

int pk__exact_init(const uint8_t *rights_applied, char *why, size_t len)
{
	int rc;

	if (!PK__ARCH_STEP) {
		snprintf(why, len, "PKEYS_EMU=exact needs single-stepping, "
				   "which Linux offers a signal handler on "
				   "x86-64 only");
		return -EOPNOTSUPP;
	}
	applied = rights_applied;
	rc = pk__sync_init(NULL);
	if (rc == 0)
		rc = pk__handlers_own(SIGTRAP, on_trap);
	if (rc)
		snprintf(why, len, "PKEYS_EMU=exact: no signal handler (%d)",
			 rc);
	return rc;
}
