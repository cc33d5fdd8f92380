/* SPDX-License-Identifier: MIT */
/*
 * Fault diagnostics and recovery: every field of a decoded fault, pk_try
 * restoring rights, chaining to the program's own handler, the default
 * report, and what rights signal handlers run with.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pktest.h"

#define RW (PROT_READ | PROT_WRITE)

static char *volatile target;

static void __attribute__((noinline)) write_target(void *arg)
{
	(void)arg;
	*(volatile char *)target = 'w';
}

static void __attribute__((noinline)) read_target(void *arg)
{
	*(char *)arg = *(volatile char *)target;
}

static void nothing(void *arg)
{
	*(int *)arg = 42;
}

void test_fault_fields(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(3, RW), sink;
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct pk_fault f;

	CHECK_EQ(pk_protect_range(p, 2 * pg, k, 0), 0);
	CHECK_EQ(pk_key_set_name(k, "api-tokens"), 0);
	target = p + pg + 123;
	CHECK_EQ(pk_try(write_target, NULL, &f), -EFAULT);
	CHECK(f.addr == p + pg + 123);
	CHECK_EQ(f.key, k);
	CHECK_EQ(f.access, PK_ACCESS_WRITE);
	CHECK_EQ(f.rights, PK_DISABLE_ACCESS);
	CHECK(f.name && strcmp(f.name, "api-tokens") == 0);
	CHECK(f.range_start == p && f.range_end == p + 2 * pg);
	CHECK_EQ(f.tid, syscall(SYS_gettid));
	/* The faulting instruction lies inside write_target. */
	CHECK((char *)f.ip >= (char *)write_target &&
	      (char *)f.ip < (char *)write_target + 256);

	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	target = p;
	CHECK_EQ(pk_try(read_target, &sink, &f), 0);
	CHECK_EQ(pk_try(write_target, NULL, &f), -EFAULT);
	CHECK_EQ(f.rights, PK_DISABLE_WRITE);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	pkt_tlb_flush();
	CHECK_EQ(pk_try(read_target, &sink, &f), -EFAULT);
	CHECK_EQ(f.access, PK_ACCESS_READ);
	CHECK(f.addr == p);

	char text[256];
	int n = pk_fault_format(&f, text, sizeof(text));
	CHECK(n > 0 && n < (int)sizeof(text));
	CHECK(strstr(text, "read of 0x") != NULL);
	CHECK(strstr(text, "\"api-tokens\"") != NULL);
	CHECK(strstr(text, "access disabled") != NULL);
	CHECK_EQ(pk_fault_format(&f, text, 10), n); /* truncated, same need */
	CHECK_EQ(strlen(text), 9);

	CHECK_EQ(pk_key_set_name(k, NULL), 0);
	CHECK_EQ(pk_try(read_target, &sink, &f), -EFAULT);
	CHECK(f.name == NULL);
	CHECK_EQ(pk_key_set_name(0, "x"), -EINVAL);
	CHECK_EQ(pk_try(NULL, NULL, &f), -EINVAL);
	int v = 0;
	CHECK_EQ(pk_try(nothing, &v, &f), 0);
	CHECK_EQ(v, 42);

	/* A freed key forgets its name: the number's next key has none. */
	CHECK_EQ(pk_key_set_name(k, "old-name"), 0);
	CHECK_EQ(pk_unprotect_range(p, 2 * pg, PK_NO_CHECK_AUTHORITY), 0);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_key_set_name(k, "x"), -EINVAL);
	CHECK_EQ(pk_key_alloc(0, PK_DISABLE_ACCESS), k);
	CHECK_EQ(pk_protect_range(p, pg, k, 0), 0);
	CHECK_EQ(pk_try(read_target, &sink, &f), -EFAULT);
	CHECK_EQ(f.key, k);
	CHECK(f.name == NULL);
}

/*
 * Recovery 10,000 times, alternating reads and writes: the rights after
 * each are the ones the thread had, and they still enforce (on hardware
 * a handler's rights would close key 2 and open nothing).
 */
void test_try_restores_rights(void)
{
	char *p = pkt_map(1, RW), *q = pkt_map(1, RW), sink;
	int k = pkt_key(PK_DISABLE_WRITE), k2 = pkt_key(0);
	struct pk_fault f;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	CHECK_EQ(pk_mprotect(q, pkt_page(), RW, k2), 0);
	target = p;
	for (int i = 0; i < 10000; i++) {
		if (i % 2) {
			CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
			CHECK_EQ(pk_try(read_target, &sink, &f), -EFAULT);
			CHECK_EQ(f.access, PK_ACCESS_READ);
			CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
			CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
		} else {
			CHECK_EQ(pk_try(write_target, NULL, &f), -EFAULT);
			CHECK_EQ(f.access, PK_ACCESS_WRITE);
			CHECK_EQ(pk_get(k), PK_DISABLE_WRITE);
		}
		CHECK_EQ(f.key, k);
		CHECK_EQ(pk_get(k2), 0);
		if (i % 1000 == 0) {
			EXPECT_OK(p, R);
			EXPECT_FAULT(p, W, k);
		}
		q[i % 64] = (char)i; /* key 2 still open, no fault */
	}
}

static void inner(void *arg)
{
	struct pk_fault f;
	/* volatile: the fault below leaves this function by longjmp. */
	volatile int *rc = arg;

	*rc = pk_try(write_target, NULL, &f);
	/* Back in the outer pk_try: a second fault is caught there. */
	write_target(NULL);
	*rc = 99;
}

void test_try_nested(void)
{
	char *p = pkt_map(1, RW);
	int k = pkt_key(PK_DISABLE_ACCESS), inner_rc = 0;
	struct pk_fault f;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	target = p;
	CHECK_EQ(pk_try(inner, &inner_rc, &f), -EFAULT);
	CHECK_EQ(inner_rc, -EFAULT);
	CHECK_EQ(f.key, k);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
}

static sigjmp_buf user_jump;
/* Hidden from the compiler, which would otherwise see the bad access. */
static volatile char *volatile near_null = (volatile char *)8;
static volatile void *user_addr;
static volatile int user_calls;

static void user_handler(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	user_addr = info->si_addr;
	user_calls++;
	siglongjmp(user_jump, 1);
}

/* A plain crash goes to the handler the program had installed first. */
void test_chain_previous_handler(void)
{
	struct sigaction sa;
	char *p = pkt_map(1, RW), sink;
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct pk_fault f;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = user_handler;
	sa.sa_flags = SA_SIGINFO;
	CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	CHECK_EQ(pk_fault_report(0), 0);
	CHECK_EQ(pk_fault_report(1), -EINVAL);
	if (sigsetjmp(user_jump, 1) == 0) {
		*near_null = 1;
		CHECK(!"NULL+8 write did not fault");
	}
	CHECK_EQ(user_calls, 1);
	CHECK(user_addr == (void *)8);
	/* Key faults inside pk_try stay with pk_try. */
	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	target = p;
	CHECK_EQ(pk_try(read_target, &sink, &f), -EFAULT);
	CHECK_EQ(user_calls, 1);
}

static struct pk_fault seen;
static void on_key_fault(const struct pk_fault *f, void *ctx)
{
	seen = *f;
	siglongjmp(*(sigjmp_buf *)ctx, 1);
}

void test_fault_callback(void)
{
	char *p = pkt_map(1, RW);
	int k = pkt_key(PK_DISABLE_WRITE);
	static sigjmp_buf jump;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	CHECK_EQ(pk_fault_set_handler(on_key_fault, &jump), 0);
	if (sigsetjmp(jump, 1) == 0) {
		p[7] = 1;
		CHECK(!"write did not fault");
	}
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	CHECK(seen.addr == p + 7);
	CHECK_EQ(seen.key, k);
	CHECK_EQ(seen.access, PK_ACCESS_WRITE);
	CHECK_EQ(pk_fault_set_handler(NULL, NULL), 0);
}

/* A forked child's stderr (the write end of fds) and its exit status. */
static int child_stderr(pid_t pid, int fds[2], char *out, size_t len)
{
	size_t used = 0;
	ssize_t n;
	int status;

	close(fds[1]);
	while ((n = read(fds[0], out + used, len - 1 - used)) > 0)
		used += (size_t)n;
	out[used] = 0;
	close(fds[0]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return status;
}

/* The default report: one paragraph and a backtrace, then SIGSEGV. */
void test_fault_report(void)
{
	char *p = pkt_map(1, RW), out[4096];
	int k = pkt_key(PK_DISABLE_ACCESS), fds[2], status;
	pid_t pid;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	CHECK_EQ(pk_key_set_name(k, "session-keys"), 0);
	CHECK_EQ(pipe(fds), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit { unsigned long cur, max; } none = {0, 0};
		syscall(SYS_setrlimit, 4 /* RLIMIT_CORE */, &none);
		dup2(fds[1], 2);
		/* No handler before ours (a sanitizer has one): then the
		 * default action follows the report. */
		signal(SIGSEGV, SIG_DFL);
		CHECK_EQ(pk_fault_report(0), 0);
		target = p + 64;
		write_target(NULL);
		_exit(0);
	}
	status = child_stderr(pid, fds, out, sizeof(out));
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		pkt_fail(__FILE__, __LINE__, "child status %#x, stderr: %s",
			 status, out);
	char want[64];
	snprintf(want, sizeof(want), "write to %p stopped by key %d", p + 64, k);
	if (!strstr(out, want) || !strstr(out, "\"session-keys\"") ||
	    !strstr(out, "backtrace") || !strstr(out, "access disabled"))
		pkt_fail(__FILE__, __LINE__, "report was: %s", out);
	/*
	 * The backtrace names the faulting function (static, so in no
	 * dynamic symbol table) first, then its caller, from the test
	 * program's own symbol table: no -rdynamic.
	 */
	char *bt = strstr(out, "backtrace:\n");
	int whole = bt && !strstr(bt, "no unwinder");
	if (!bt || !strstr(bt, "  #0 0x") ||
	    !strstr(bt, " write_target+0x") ||
	    (whole && (!strstr(bt, " test_fault_report+0x") ||
		       strstr(bt, " write_target+0x") > strstr(bt, "  #1 "))))
		pkt_fail(__FILE__, __LINE__, "backtrace was: %s", bt ? bt : out);
#if PKTEST_HAVE_LIBDW
	/* Built with libdw: the faulting line, from the debug information. */
	char *src = strstr(out, "pkeys: source lines:\n");
	if (!src || !strstr(src, "  #0 ") || !strstr(src, "test_faultinfo.c:"))
		pkt_fail(__FILE__, __LINE__, "no source lines in: %s", out);
#endif
}

/*
 * A SIGSEGV sent with kill(2) is no fault: nothing runs again after the
 * handler returns.  With SIGSEGV ignored before the library it is
 * dropped and the library's handler stays (pk_try still catches key
 * faults); with the default action the process dies of it, as it would
 * without the library.
 */
static void sent_child(void (*previous)(int), char *p, int k)
{
	struct pk_fault f;
	char sink;

	syscall(SYS_setrlimit, 4 /* RLIMIT_CORE */,
		&(struct { unsigned long cur, max; }){0, 0});
	signal(SIGSEGV, previous);
	target = p;
	if (pk_try(read_target, &sink, &f) != -EFAULT || f.key != k)
		_exit(2);
	kill(getpid(), SIGSEGV);
	if (pk_try(read_target, &sink, &f) != -EFAULT || f.key != k ||
	    f.addr != p)
		_exit(3);
	_exit(0);
}

void test_fault_sent_signal(void)
{
	char *p = pkt_map(1, RW);
	int k = pkt_key(PK_DISABLE_ACCESS), status;
	pid_t pid;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		sent_child(SIG_IGN, p, k);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		pkt_fail(__FILE__, __LINE__,
			 "ignored SIGSEGV: child status %#x", status);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		sent_child(SIG_DFL, p, k);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		pkt_fail(__FILE__, __LINE__,
			 "default SIGSEGV: child status %#x, not killed by it",
			 status);
}

struct worker {
	char *page;
	int key, caught;
};

static void touch(void *arg)
{
	*(volatile char *)arg = 1;
}

static void *fault_loop(void *arg)
{
	struct worker *w = arg;
	struct pk_fault f;

	CHECK_EQ(pk_set(w->key, PK_DISABLE_ACCESS), 0);
	for (int i = 0; i < 2000; i++) {
		if (pk_try(touch, w->page + i % 100, &f) != -EFAULT)
			continue;
		if (f.key != w->key || f.addr != w->page + i % 100 ||
		    f.tid != syscall(SYS_gettid))
			pkt_fail(__FILE__, __LINE__, "wrong fault in thread");
		if (pk_get(w->key) != PK_DISABLE_ACCESS)
			pkt_fail(__FILE__, __LINE__, "rights lost");
		w->caught++;
	}
	return NULL;
}

/* Two threads fault at once, each on its own key, each recovers. */
void test_fault_two_threads(void)
{
	struct worker w[2];
	pthread_t t[2];

	for (int i = 0; i < 2; i++) {
		w[i].page = pkt_map(1, RW);
		w[i].key = pkt_key(PK_DISABLE_ACCESS);
		w[i].caught = 0;
		CHECK_EQ(pk_mprotect(w[i].page, pkt_page(), RW, w[i].key), 0);
	}
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, fault_loop, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(w[i].caught, 2000);
}

static int sig_key;
static volatile int in_handler_rights = -100;

static void on_usr1(int sig)
{
	(void)sig;
	in_handler_rights = pk_get(sig_key);
	pk_set(sig_key, 0);
}

/*
 * Signal handlers and rights, as documented: on x86 the handler runs
 * with the kernel's rights (keys other than 0 access-disabled) and the
 * thread's rights come back on return, on hardware keys and on the
 * emulation alike; on POWER the handler runs with the thread's rights,
 * and a change it makes stays.
 */
void test_signal_rights(void)
{
	char *p = pkt_map(1, RW);

	sig_key = pkt_key(PK_DISABLE_WRITE);
	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, sig_key), 0);
	CHECK(signal(SIGUSR1, on_usr1) != SIG_ERR);
	CHECK_EQ(raise(SIGUSR1), 0);
	if (pkt_handler_resets()) {
		CHECK_EQ(in_handler_rights, PK_DISABLE_ACCESS);
		CHECK_EQ(pk_get(sig_key), PK_DISABLE_WRITE);
		EXPECT_FAULT(p, W, sig_key);
	} else {
		CHECK_EQ(in_handler_rights, PK_DISABLE_WRITE);
		CHECK_EQ(pk_get(sig_key), 0);
		EXPECT_OK(p, W);
	}
}

static volatile int on_alt;

static void on_usr2(int sig)
{
	(void)sig;
	on_alt = 1;
}

/*
 * An alternate signal stack: plain memory works, keyed memory is refused
 * on both backends.  Why, on x86 hardware: the kernel runs a handler
 * with its initial rights (key 0 only), so a handler on a keyed stack
 * dies at its first push even when the thread had the key open; a child
 * shows it with plain sigaltstack(2).  (POWER handlers keep the
 * thread's rights, but a key closed when the signal comes would kill
 * the handler just the same.)
 */
void test_sigaltstack_keyed(void)
{
	size_t pg = pkt_page(), len = 16 * pg;
	char *plain = pkt_map(16, RW), *keyed = pkt_map(16, RW);
	int k = pkt_key(0), status;
	stack_t ss = {.ss_sp = plain, .ss_size = len, .ss_flags = 0}, old;
	pid_t pid;

	CHECK_EQ(pk_sigaltstack(&ss, &old), 0);
	CHECK_EQ(pk_protect_range(keyed, len, k, 0), 0);
	ss.ss_sp = keyed;
	CHECK_EQ(pk_sigaltstack(&ss, NULL), -EOPNOTSUPP);
	/* Refused: the plain stack is still the one in use. */
	CHECK_EQ(sigaltstack(NULL, &old), 0);
	CHECK(old.ss_sp == plain);
	/* The kernel's own frame push: hardware keys only. */
	if (strcmp(pk_backend_name(), "x86_pku") == 0) {
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			struct sigaction sa;
			syscall(SYS_setrlimit, 4 /* RLIMIT_CORE */,
				&(struct { unsigned long cur, max; }){0, 0});
			memset(&sa, 0, sizeof(sa));
			sa.sa_handler = on_usr2;
			sa.sa_flags = SA_ONSTACK;
			sigaction(SIGUSR2, &sa, NULL);
			if (sigaltstack(&ss, NULL))
				_exit(2);
			raise(SIGUSR2);
			_exit(on_alt ? 0 : 3);
		}
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
			pkt_fail(__FILE__, __LINE__,
				 "a handler on a keyed stack ran (status %#x)",
				 status);
	}
	ss.ss_flags = SS_DISABLE;
	CHECK_EQ(pk_sigaltstack(&ss, NULL), 0);
}

/*
 * pk_try while keys move: thread T holds X open and Y closed, and tries
 * reads of both, while the main thread keeps moving X and Y in and out
 * of one hardware key (more keys than the hardware has; each move
 * signals T).  T's rights must hold through every try: X always reads,
 * Y always comes back as a key fault, and no key fault is passed on as
 * another kind.  (pk_try used to restore the PKRU of the fault, undoing
 * a move that landed meanwhile; a fault decoded after its key moved was
 * not recognised.)
 */
static int mv_x, mv_y, mv_stop;
static char *mv_pages;
static long mv_x_faults, mv_y_reads, mv_passed_on, mv_iters;
static __thread sigjmp_buf *mv_armed;

static void mv_previous(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)info;
	(void)uc;
	if (mv_armed)
		siglongjmp(*mv_armed, 1);
	_exit(3);
}

/*
 * pk_try(fn, arg) with mv_previous installed before the library's: 0 fn
 * returned, 1 pk_try caught a key fault, 2 a fault pk_try passed on.
 */
static int try_outcome(void (*fn)(void *), void *arg)
{
	struct pk_fault f;
	sigjmp_buf j;
	int r;

	if (sigsetjmp(j, 1)) {
		mv_armed = NULL;
		return 2;
	}
	mv_armed = &j;
	r = pk_try(fn, arg, &f);
	mv_armed = NULL;
	return r == 0 ? 0 : 1;
}

static int mv_read(char *p)
{
	target = p;
	return try_outcome(read_target, &(char){0});
}

static void *mv_thread(void *arg)
{
	(void)arg;
	CHECK_EQ(pk_set(mv_x, 0), 0);
	while (!__atomic_load_n(&mv_stop, __ATOMIC_RELAXED)) {
		int rx = mv_read(mv_pages), ry = mv_read(mv_pages + pkt_page());
		mv_x_faults += rx != 0;
		mv_y_reads += ry == 0;
		mv_passed_on += (rx == 2) + (ry == 2);
		mv_iters++;
	}
	return NULL;
}

void test_try_during_moves(void)
{
	enum { FILL = 14 };
	int fill[FILL];
	struct sigaction sa;
	pthread_t t;
	time_t end;
	long moves = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mv_previous;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	mv_pages = pkt_map(2, RW);
	for (int i = 0; i < FILL; i++)
		fill[i] = pkt_key(PK_DISABLE_ACCESS);
	mv_x = pkt_key(PK_DISABLE_ACCESS);
	mv_y = pkt_key(PK_DISABLE_ACCESS);
	CHECK_EQ(pk_mprotect(mv_pages, pkt_page(), PROT_READ, mv_x), 0);
	CHECK_EQ(pk_mprotect(mv_pages + pkt_page(), pkt_page(), PROT_READ,
			     mv_y),
		 0);
	CHECK_EQ(pthread_create(&t, NULL, mv_thread, NULL), 0);
	end = time(NULL) + 3;
	while (time(NULL) < end) {
		for (int i = 0; i < FILL; i++)
			CHECK_EQ(pk_set(fill[i], PK_DISABLE_ACCESS), 0);
		CHECK_EQ(pk_set(moves & 1 ? mv_x : mv_y, PK_DISABLE_ACCESS), 0);
		moves++;
	}
	__atomic_store_n(&mv_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	if (mv_x_faults || mv_y_reads || mv_passed_on)
		pkt_fail(__FILE__, __LINE__,
			 "%ld moves, %ld tries: X faulted %ld times, Y read %ld "
			 "times, %ld key faults passed on",
			 moves, mv_iters, mv_x_faults, mv_y_reads, mv_passed_on);
	CHECK(mv_iters > 0);
}

/*
 * Faults that are not a key's doing stay out of pk_try and go to the
 * handler installed before the library's: an instruction fetch from a
 * keyed page that is not executable (keys never stop fetches), and an
 * access the page's own protection forbids while the key forbids it too
 * (the kernel reports SEGV_PKUERR for those on hardware).
 */
/* 1 when the fault went to the previous handler, 0 when pk_try kept it. */
static int went_on(void (*fn)(void *), void *arg)
{
	int r = try_outcome(fn, arg);

	CHECK(r != 0); /* it faulted */
	return r == 2;
}

static void jump_to(void *code)
{
	((void (*)(void))code)();
}

void test_fault_not_the_key(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(1, RW), *q = pkt_map(1, RW);
	int open_key = pkt_key(0), closed = pkt_key(PK_DISABLE_ACCESS);
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = mv_previous;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	p[0] = (char)0xc3; /* ret */
	CHECK_EQ(pk_mprotect(p, pg, RW, open_key), 0);
	CHECK_EQ(went_on(jump_to, p), 1);
	CHECK_EQ(pk_mprotect(q, pg, PROT_READ, closed), 0);
	target = q;
	CHECK_EQ(went_on(write_target, NULL), 1);
	CHECK_EQ(pk_mprotect(q, pg, PROT_NONE, closed), 0);
	CHECK_EQ(went_on(read_target, &(char){0}), 1);
	/* The key's own faults still stop in pk_try. */
	CHECK_EQ(pk_mprotect(q, pg, RW, closed), 0);
	CHECK_EQ(went_on(read_target, &(char){0}), 0);
}

/* A write-only page whose key is write-disabled reads, as on x86. */
void test_write_only_page(void)
{
	size_t pg = pkt_page();
	char *p = pkt_map(1, RW);
	int k = pkt_key(0);
	struct pk_fault f;
	char c = 1;

	p[0] = 7;
	CHECK_EQ(pk_mprotect(p, pg, PROT_WRITE, k), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_WRITE), 0);
	target = p;
	CHECK_EQ(pk_try(read_target, &c, &f), 0);
	CHECK_EQ(c, 7);
	CHECK_EQ(pk_try(write_target, NULL, &f), -EFAULT);
	CHECK_EQ(f.key, k);
}

/*
 * The handler installed before the library's, as the kernel would run
 * it: SIG_IGN flagged SA_SIGINFO is still "ignore" (a sent SIGSEGV is
 * dropped), and SA_RESETHAND resets it after one call (a fault that
 * repeats then gets the default action instead of looping).
 */
static int rh_calls;

static void rh_handler(int sig)
{
	(void)sig;
	if (++rh_calls > 100)
		_exit(3);
}

void test_fault_previous_flags(void)
{
	int status;
	pid_t pid;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_IGN;
		sa.sa_flags = SA_SIGINFO;
		sigaction(SIGSEGV, &sa, NULL);
		if (pk_fault_report(0))
			_exit(2);
		kill(getpid(), SIGSEGV);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		pkt_fail(__FILE__, __LINE__, "SIG_IGN|SA_SIGINFO: status %#x",
			 status);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct sigaction sa;
		char *ro = pkt_map(1, PROT_READ);
		syscall(SYS_setrlimit, 4 /* RLIMIT_CORE */,
			&(struct { unsigned long cur, max; }){0, 0});
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = rh_handler;
		sa.sa_flags = SA_RESETHAND | SA_NODEFER;
		sigaction(SIGSEGV, &sa, NULL);
		if (pk_fault_report(0))
			_exit(2);
		*(volatile char *)ro = 1;
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		pkt_fail(__FILE__, __LINE__, "SA_RESETHAND: status %#x", status);
}

/*
 * Arguments in keyed memory the caller may not read: pk_key_set_name
 * faults before it takes the library's lock, so the fault is recovered
 * and the library goes on (it used to fault with the lock held).
 */
static char *nm_name;

static void name_from(void *arg)
{
	pk_key_set_name(*(int *)arg, nm_name);
}

void test_fault_in_argument(void)
{
	int k = pkt_key(0), closed = pkt_key(0), k2;
	struct pk_fault f;

	nm_name = pkt_map(1, RW);
	strcpy(nm_name, "secret");
	CHECK_EQ(pk_mprotect(nm_name, pkt_page(), RW, closed), 0);
	CHECK_EQ(pk_set(closed, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_try(name_from, &k, &f), -EFAULT);
	CHECK_EQ(f.key, closed);
	k2 = pk_key_alloc(0, 0); /* the lock is free */
	CHECK(k2 > 0);
	CHECK_EQ(pk_key_free(k2), 0);
	CHECK_EQ(pk_set(closed, 0), 0);
	CHECK_EQ(pk_key_set_name(k, nm_name), 0);
}

/*
 * A program's own SIGSEGV handler gets a key fault as Linux reports
 * one: si_code SEGV_PKUERR (4), si_pkey the key, si_addr the address,
 * on the emulation as on hardware keys; sigaction gives the program its
 * handlers back; pk_try keeps working (the library's handler stays
 * first).  Linked programs and `pkeys run` alike (the interposed
 * sigaction and signal).
 */
static sigjmp_buf own_jump;
static volatile int own_code, own_pkey;
static void *volatile own_addr;

static void own_handler(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	own_code = info->si_code;
	memcpy((void *)&own_pkey, (char *)info + 0x20, sizeof(int));
	own_addr = info->si_addr;
	siglongjmp(own_jump, 1);
}

static void plain_handler(int sig)
{
	(void)sig;
	siglongjmp(own_jump, 2);
}

void test_fault_program_handler_pkuerr(void)
{
	char *p = pkt_map(1, RW);
	int k = pkt_key(PK_DISABLE_ACCESS);
	struct sigaction sa, old, back;
	struct pk_fault f;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	pkt_access(p, R, 0, &f); /* the library's handler is in place */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = own_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGSEGV, &sa, &old), 0);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &back), 0);
	CHECK(back.sa_sigaction == own_handler);
	CHECK(back.sa_flags & SA_SIGINFO);

	pkt_tlb_flush();
	if (sigsetjmp(own_jump, 1) == 0) {
		(void)*(volatile char *)(p + 8);
		pkt_fail(__FILE__, __LINE__, "the read went through");
	}
	CHECK_EQ(own_code, 4); /* SEGV_PKUERR */
	CHECK_EQ(own_pkey, k);
	CHECK(own_addr == p + 8);
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);

	/* pk_try still catches its own faults first. */
	target = p + 16;
	memset(&f, 0, sizeof(f));
	CHECK_EQ(pk_try(write_target, NULL, &f), -EFAULT);
	CHECK_EQ(f.key, k);
	CHECK(f.addr == p + 16);

	/* signal(): the old handler comes back, the new one is called. */
	CHECK(signal(SIGSEGV, plain_handler) != SIG_ERR);
	pkt_tlb_flush();
	if (sigsetjmp(own_jump, 1) == 0) {
		*(volatile char *)p = 1;
		pkt_fail(__FILE__, __LINE__, "the write went through");
	}
	CHECK_EQ(sigaction(SIGSEGV, &old, &back), 0);
	CHECK(back.sa_handler == plain_handler);
}

/*
 * SA_RESETHAND, as the kernel does it: the program's handler runs once,
 * then the default action is back (sigaction says so) and the next key
 * fault ends the process with SIGSEGV.
 */
void test_fault_program_handler_resethand(void)
{
	char *p = pkt_map(1, RW);
	int k = pkt_key(PK_DISABLE_ACCESS), status;
	struct sigaction sa, now;
	pid_t pid;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = own_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGSEGV, &sa, NULL), 0);
	pkt_tlb_flush();
	own_code = 0;
	if (sigsetjmp(own_jump, 1) == 0) {
		*(volatile char *)(p + 1) = 1;
		pkt_fail(__FILE__, __LINE__, "the write went through");
	}
	CHECK_EQ(own_code, 4);
	CHECK_EQ(sigaction(SIGSEGV, NULL, &now), 0);
	CHECK(now.sa_handler == SIG_DFL);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit { unsigned long cur, max; } none = {0, 0};
		syscall(SYS_setrlimit, 4 /* RLIMIT_CORE */, &none);
		pkt_tlb_flush();
		*(volatile char *)(p + 2) = 1;
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
}

/*
 * The rights a program's SIGSEGV handler runs with, as the hardware's
 * kernel gives them, on the emulation too: on x86 every key but 0
 * access-disabled at entry, and the interrupted rights back when the
 * handler returns, whatever it set; on POWER the handler keeps the
 * interrupted rights and what it sets stays.  (A SIGSEGV sent with
 * raise: the handler can return.)
 */
static int entry_key;
static volatile int entry_seen = -1;

static void entry_handler(int sig)
{
	(void)sig;
	entry_seen = pk_get(entry_key);
	pk_set(entry_key, PK_DISABLE_WRITE);
}

void test_fault_program_handler_rights(void)
{
	struct sigaction sa, old;

	entry_key = pkt_key(0);
	CHECK_EQ(pk_set(entry_key, 0), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = entry_handler;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGSEGV, &sa, &old), 0);
	CHECK_EQ(raise(SIGSEGV), 0);
	CHECK_EQ(sigaction(SIGSEGV, &old, NULL), 0);
	/* x86's behaviour on x86, on either backend; POWER's on POWER. */
#if defined(__x86_64__)
	if (1) {
#else
	if (0) {
#endif
		CHECK_EQ(entry_seen, PK_DISABLE_ACCESS);
		CHECK_EQ(pk_get(entry_key), 0);
	} else {
		CHECK_EQ(entry_seen, 0);
		CHECK_EQ(pk_get(entry_key), PK_DISABLE_WRITE);
	}
}

/*
 * The report names the functions of a library loaded by a relative
 * path (a copy of tests/other.c's library, dlopen'ed as ./name from its
 * folder), a static one too: from that library's own symbol table, not
 * the program's.
 */
int pkt_other_munmap(void *addr, size_t len);

void test_fault_report_library(void)
{
	char *p = pkt_map(1, RW), out[4096], dir[64];
	int k = pkt_key(PK_DISABLE_ACCESS), fds[2], status;
	Dl_info other;
	pid_t pid;

	/* The library where the loader found it (the VM copies it to its
	 * build path, not beside the test program). */
	CHECK(dladdr((void *)pkt_other_munmap, &other) && other.dli_fname);
	snprintf(dir, sizeof(dir), "/tmp/pktest-lib-%d", (int)getpid());
	CHECK(mkdir(dir, 0700) == 0);
	char cmd[4096 + 128];
	snprintf(cmd, sizeof(cmd), "cp %s %s/copy.so", other.dli_fname, dir);
	CHECK_EQ(system(cmd), 0);
	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, k), 0);
	CHECK_EQ(pipe(fds), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		struct rlimit { unsigned long cur, max; } none = {0, 0};
		void (*other_touch)(char *);
		void *h;

		syscall(SYS_setrlimit, 4 /* RLIMIT_CORE */, &none);
		dup2(fds[1], 2);
		signal(SIGSEGV, SIG_DFL);
		if (chdir(dir) || !(h = dlopen("./copy.so", RTLD_NOW)))
			_exit(3);
		other_touch = (void (*)(char *))dlsym(h, "pkt_other_touch");
		if (!other_touch || pk_fault_report(0))
			_exit(4);
		other_touch(p);
		_exit(0);
	}
	status = child_stderr(pid, fds, out, sizeof(out));
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ(system(cmd), 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV)
		pkt_fail(__FILE__, __LINE__, "child status %#x: %s", status, out);
	/* The caller too, where the build has an unwinder. */
	if (!strstr(out, "  #0 0x") || !strstr(out, " other_store+0x") ||
	    !strstr(out, "(./copy.so)") ||
	    (!strstr(out, "no unwinder") && !strstr(out, " pkt_other_touch+0x")))
		pkt_fail(__FILE__, __LINE__, "report was: %s", out);
}
