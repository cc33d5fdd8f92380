/* SPDX-License-Identifier: MIT */
/*
 * Faults: decoding a SIGSEGV into what a key stopped, reporting it, and
 * recovering from it with the thread's rights intact.
 *
 * One SIGSEGV handler serves pk_try, the program's fault callback and
 * the report, in that order; faults that are not key faults go to the
 * handler that was installed before it.  Everything here that runs in
 * the handler is async-signal-safe: no stdio, no malloc, no locks that
 * the interrupted thread could hold (the emulation's registry lookup
 * waits for the library's lock, which a faulting thread never holds).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "api/api.h"
#include "core/errors.h"
#include "arch/arch.h"
#include "backend/select.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/registry.h"
#include "os/backtrace.h"
#include "os/fmt.h"
#include "os/handlers.h"
#include "os/sigaction.h"
#include "os/siginfo.h"
#include "os/page.h"

/*
 * The fault this thread's program handler was handed as Linux reports
 * it (on_segv): what the kernel said, so that pk_fault_decode of that
 * siginfo in the program's handler decodes the kernel's fault.
 */
static __thread struct {
	const siginfo_t *info;
	int code, pkey;
	unsigned rights; /* the faulting thread's, before the handler's */
} handed __attribute__((tls_model("initial-exec")));

int pk_key_set_name(int key, const char *name)
{
	char copy[PK__NAME_MAX] = {0};
	int rc = 0;

	if (!pk__key_allocated(key))
		return -EINVAL;
	/* Read the caller's memory before the lock: it may fault. */
	if (name)
		strncpy(copy, name, sizeof(copy) - 1);
	pk__lock_take();
	if (pk__key_allocated(key)) { /* not freed meanwhile */
		pk__keys_open();
		memcpy(pk__keys[key].name, copy, sizeof(copy));
	} else
		rc = -EINVAL;
	pk__lock_drop();
	return rc;
}

int pk_fault_decode(const siginfo_t *info, const void *ucontext,
		    struct pk_fault *out)
{
	/* Never choose a backend here: that is not async-signal-safe. */
	const struct pk__backend *b = pk__backend_peek();
	const struct pk__range *r;
	siginfo_t kernel;

	if (!info || !out || info->si_signo != SIGSEGV)
		return -EINVAL;
	if (info == handed.info && info->si_code == PK__SEGV_PKUERR) {
		kernel = *info;
		kernel.si_code = handed.code;
		memcpy((char *)&kernel + 0x20, &handed.pkey, sizeof(int));
		info = &kernel;
	}
	memset(out, 0, sizeof(*out));
	out->addr = info->si_addr;
	out->tid = (int)syscall(SYS_gettid);
	/* Keys never stop an instruction fetch. */
	if (pk__arch_fault_info(ucontext, &out->access, &out->ip)) {
		out->key = -1;
		return 0;
	}
	out->key = b ? b->fault_key(info, ucontext, out->access, &out->rights)
		     : -1;
	if (out->key <= 0) {
		out->rights = 0;
		return 0;
	}
	/* The rights at the fault, not the handler's (pass_on). */
	if (info == &kernel)
		out->rights = handed.rights;
	if (pk__keys[out->key].name[0])
		out->name = pk__keys[out->key].name;
	/* With signals blocked, as every holder of the lock. */
	if (pk__lock_try()) {
		r = pk__reg_find((uintptr_t)out->addr);
		if (r) {
			out->range_start = (void *)r->start;
			out->range_end = (void *)r->end;
		}
		pk__lock_drop();
	}
	return 1;
}

static const char *rights_name(unsigned rights)
{
	if (rights & PK_DISABLE_ACCESS)
		return "access disabled";
	return rights & PK_DISABLE_WRITE ? "write disabled" : "full access";
}

int pk_fault_format(const struct pk_fault *f, char *buf, size_t len)
{
	struct pk__fmt o = {buf, len, 0};

	pk__fmt_put(&o, "pkeys: ");
	pk__fmt_put(&o, f->access == PK_ACCESS_WRITE ? "write to "
		: f->access == PK_ACCESS_READ ? "read of " : "access to ");
	pk__fmt_num(&o, (unsigned long)f->addr, 16);
	if (f->key > 0) {
		pk__fmt_put(&o, " stopped by key ");
		pk__fmt_num(&o, (unsigned long)f->key, 10);
		if (f->name) {
			pk__fmt_put(&o, " (\"");
			pk__fmt_put(&o, f->name);
			pk__fmt_put(&o, "\")");
		}
		if (f->range_end) {
			pk__fmt_put(&o, " covering ");
			pk__fmt_num(&o, (unsigned long)f->range_start, 16);
			pk__fmt_put(&o, "-");
			pk__fmt_num(&o, (unsigned long)f->range_end, 16);
		}
		pk__fmt_put(&o, "; thread ");
		pk__fmt_num(&o, (unsigned long)f->tid, 10);
		pk__fmt_put(&o, " has ");
		pk__fmt_put(&o, rights_name(f->rights));
		pk__fmt_put(&o, " for it");
	} else {
		pk__fmt_put(&o, " faulted, not because of a key; thread ");
		pk__fmt_num(&o, (unsigned long)f->tid, 10);
	}
	if (f->ip) {
		pk__fmt_put(&o, "; instruction at ");
		pk__fmt_num(&o, (unsigned long)f->ip, 16);
	}
	pk__fmt_put(&o, "\n");
	if (len)
		buf[o.need < len ? o.need : len - 1] = 0;
	return (int)o.need;
}

/* A pk_try in progress on this thread; they nest through `up`. */
struct try_frame {
	sigjmp_buf jump;
	struct pk_fault fault;
	uint64_t raw_rights;
	int have_rights;
	struct try_frame *up;
};

static __thread struct try_frame *tries __attribute__((tls_model("initial-exec")));
static struct sigaction previous;
static int installed, reporting;
/* previous is the program's own: set after ours (pk__segv_sigaction),
 * or before the library was in use. */
static int program_handler;

static pk_fault_fn callback;
static void *callback_ctx;

static void report(const struct pk_fault *f)
{
	char text[512];
	int len = pk_fault_format(f, text, sizeof(text));

	if (len >= (int)sizeof(text))
		len = sizeof(text) - 1;
	(void)!write(STDERR_FILENO, text, (size_t)len);
	pk__backtrace_report(STDERR_FILENO, f->ip);
}

/* The kernel's default action for SIGSEGV from now on. */
static void default_segv(void)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	pk__sigaction_real(SIGSEGV, &dfl, NULL);
}

/*
 * Not ours to handle: do what would have happened without the library.
 * A handler installed before us gets the signal.  Otherwise a fault
 * (si_code > 0) gets the default action when the faulting access runs
 * again: the kernel kills for a synchronous fault even when SIGSEGV is
 * ignored.  A SIGSEGV sent by kill(2), tgkill(2) or sigqueue(3)
 * (si_code <= 0) runs nothing again: an ignored one is dropped and
 * leaves our handler in place, a default one terminates the process
 * now, with a core dump, as it would have.
 */
static void pass_on(int sig, siginfo_t *info, void *uc)
{
	int sent = info && info->si_code <= 0;
	int handler = previous.sa_handler != SIG_DFL &&
		      previous.sa_handler != SIG_IGN;
	struct sigaction once = previous;

	sigset_t mask, saved;

	/* SA_RESETHAND: the kernel would have reset it before the call. */
	if (handler && (previous.sa_flags & SA_RESETHAND)) {
		previous.sa_handler = SIG_DFL;
		previous.sa_flags &= ~SA_SIGINFO;
		program_handler = 0;
	}
	if (handler) {
		const struct pk__backend *b = pk__backend_peek();
		int emulate = program_handler && b && !b->hardware;

		/* The handler's mask, as the kernel would block it. */
		mask = once.sa_mask;
		if (!(once.sa_flags & SA_NODEFER))
			sigaddset(&mask, sig);
		pthread_sigmask(SIG_BLOCK, &mask, &saved);
		if (emulate)
			pk__entry_call(once.sa_sigaction, sig, info, uc);
		else if (once.sa_flags & SA_SIGINFO)
			once.sa_sigaction(sig, info, uc);
		else
			once.sa_handler(sig);
		pthread_sigmask(SIG_SETMASK, &saved, NULL);
	} else if (!sent) {
		default_segv();
	} else if (previous.sa_handler == SIG_DFL) {
		/* SA_NODEFER: not blocked here, so raise() delivers it now. */
		default_segv();
		raise(SIGSEGV);
	}
}

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	const struct pk__backend *b = pk__backend_peek();
	struct pk_fault f;
	struct try_frame *t = tries;

	/* The emulation's exact mode lets accesses of a thread that holds
	 * rights through (backend/emu_exact.c). */
	if (b && b->step && b->step(info, uc))
		return;
	/* A new fault: what an earlier one handed on is stale (its siginfo
	 * may sit at the same address). */
	handed.info = NULL;
	/* A fault under the library's lock is never a key fault to
	 * recover from (core/lock.h): jumping out would keep the lock. */
	if (pk__lock_mine() || pk_fault_decode(info, uc, &f) != 1) {
		pass_on(sig, info, uc);
		return;
	}
	if (t) {
		t->fault = f;
		t->have_rights = b && b->frame_rights &&
				 b->frame_rights(uc, &t->raw_rights) == 0;
		tries = t->up;
		siglongjmp(t->jump, 1);
	}
	if (callback)
		callback(&f, callback_ctx);
	if (reporting && !program_handler)
		report(&f);
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		/*
		 * A handler of the program's (or one installed before the
		 * library): it sees a key fault as Linux reports one
		 * (SEGV_PKUERR, si_pkey), on either backend, with the
		 * library's key number.
		 */
		handed.info = info;
		handed.code = info->si_code;
		handed.pkey = pk__si_pkey(info);
		handed.rights = f.rights;
		pk__si_set_pkey(info, f.key);
	}
	/* Then as if the library were not there: a crash reporter installed
	 * before it, or the default action (core dump) when the access runs
	 * again. */
	pass_on(sig, info, uc);
}

static int install(void)
{
	struct sigaction sa;

	/*
	 * The unwinder and libdw load here (os/report_libs.h): not in a
	 * handler, and not under the lock, which a library constructor
	 * run by the loader (holding the loader's lock) may want.
	 */
	pk__backtrace_warm();
	pk__lock_take();
	if (!installed) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_segv;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		if (pk__sigaction_real(SIGSEGV, &sa, &previous)) {
			pk__lock_drop();
			return -errno;
		}
		/* A handler installed before the library was in use (a
		 * program's, set up before its first key) is the program's:
		 * it gets each fault as Linux reports one, and the report
		 * stays quiet. */
		program_handler = previous.sa_handler != SIG_DFL &&
				  previous.sa_handler != SIG_IGN;
		installed = 1;
	}
	pk__lock_drop();
	return 0;
}

/*
 * sigaction(SIGSEGV) from the program, through the interposer
 * (interpose/signals.c): the library's handler stays first, so that
 * pk_try and key faults keep working, and the program's handler is the
 * one the library passes faults to.  old gets the program's previous
 * handler, as without the library.  The library itself always tells
 * the kernel through pk__sigaction_real.
 */
int pk__segv_sigaction(const struct sigaction *act, struct sigaction *old)
{
	struct sigaction was;

	if (install())
		return pk__sigaction_real(SIGSEGV, act, old);
	pk__lock_take();
	was = previous;
	if (act) {
		previous = *act;
		program_handler = act->sa_handler != SIG_DFL &&
				  act->sa_handler != SIG_IGN;
	}
	pk__lock_drop();
	if (old)
		*old = was;
	return 0;
}

static int report_at_first_key;

void pk__fault_report_at_first_key(void)
{
	__atomic_store_n(&report_at_first_key, 1, __ATOMIC_RELEASE);
}

void pk__fault_first_key(void)
{
	const struct pk__backend *b = pk__backend_peek();
	int report = __atomic_load_n(&report_at_first_key, __ATOMIC_ACQUIRE);

	/* The emulation: a handler of the program's, installed before this
	 * (or later), must see key faults as Linux reports them; and the
	 * exact mode lets accesses through from here. */
	if (((b && !b->hardware) || report) && install() == 0 && report)
		reporting = 1;
	pk__signals_emulate();
}

int pk_fault_report(unsigned flags)
{
	int rc;

	if (flags)
		return -EINVAL;
	rc = pk__api_err(PK__CALL_SIGNALS, install());
	if (rc == 0)
		reporting = 1;
	return rc;
}

int pk_fault_set_handler(pk_fault_fn fn, void *ctx)
{
	int rc = pk__api_err(PK__CALL_SIGNALS, install());

	if (rc == 0) {
		callback_ctx = ctx;
		callback = fn;
	}
	return rc;
}

int pk_try(void (*fn)(void *), void *arg, struct pk_fault *fault)
{
	const struct pk__backend *b = pk__backend();
	struct try_frame frame;
	int rc;

	if (!fn)
		return -EINVAL;
	rc = pk__api_err(PK__CALL_SIGNALS, install());
	if (rc)
		return rc;
	frame.up = tries;
	if (sigsetjmp(frame.jump, 1) == 0) {
		tries = &frame;
		fn(arg);
		tries = frame.up;
		return 0;
	}
	/*
	 * Hardware entered the handler with the kernel's rights and
	 * siglongjmp kept them: put back the thread's rights at the fault.
	 */
	if (frame.have_rights)
		b->restore_rights(frame.raw_rights);
	if (fault)
		*fault = frame.fault;
	return -EFAULT;
}

int pk_sigaltstack(const stack_t *ss, stack_t *old)
{
	uintptr_t start, end;
	int keyed;

	if (ss && !(ss->ss_flags & SS_DISABLE)) {
		start = (uintptr_t)ss->ss_sp;
		end = start + ss->ss_size;
		if (end < start)
			return -EINVAL;
		pk__lock_take();
		keyed = 0;
		for (struct pk__range *r = pk__reg_lower(start);
		     r && r->start < end; r = r->next[0])
			keyed |= r->key > 0;
		pk__lock_drop();
		/*
		 * No signal could run there.  The emulation closes a key's
		 * pages to the kernel too: it cannot write a frame there
		 * while the key is closed.  On hardware the kernel writes
		 * the frame (6.12 and later open every key for that), but
		 * then runs the handler with its initial rights, key 0
		 * only: the handler's first push onto the stack faults,
		 * whatever rights the thread had.
		 */
		if (keyed)
			return -EOPNOTSUPP;
	}
	return sigaltstack(ss, old) ? pk__api_err(PK__CALL_SIGALTSTACK, -errno)
				    : 0;
}
