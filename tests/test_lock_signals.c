/* SPDX-License-Identifier: MIT */
/*
 * Signals that arrive while a thread is inside the library's lock
 * (core/lock.h): the program's handler runs after the library lets go,
 * never inside, with the siginfo it was sent, and it may call the
 * library.  Where the lock holds signals back rather than blocking them
 * (the emulation on x86, once a key exists), a handler installed behind
 * the library's back that calls it there stops the program with a
 * message instead of waiting forever.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pktest.h"

void pk__test_under_lock(void (*fn)(void *), void *arg);
int pk__test_lock_defers(void);

static int key;
static volatile int calls, got_code, got_value, got_pid, rights_in_handler;

static void on_usr1(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	calls++;
	got_code = info->si_code;
	got_value = info->si_value.sival_int;
	got_pid = info->si_pid;
	CHECK_EQ(pk_set(key, PK_DISABLE_WRITE), 0);
	rights_in_handler = pk_get(key);
}

static void install(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
}

/* Inside the lock: send, and note how many handler calls ran by now. */
static void send_queued(void *arg)
{
	union sigval v = {.sival_int = 4242};

	CHECK_EQ(sigqueue(getpid(), SIGUSR1, v), 0);
	*(int *)arg = calls;
}

static void send_kill(void *arg)
{
	CHECK_EQ(kill(getpid(), SIGUSR1), 0);
	*(int *)arg = calls;
}

static void expect_after(int inside, int code)
{
	sigset_t now;

	CHECK_EQ(inside, 0);
	CHECK_EQ(calls, 1);
	CHECK_EQ(got_code, code);
	CHECK_EQ(got_pid, getpid());
	CHECK_EQ(rights_in_handler, PK_DISABLE_WRITE);
	/* The thread's mask is what it was. */
	CHECK_EQ(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	CHECK(!sigismember(&now, SIGUSR1));
	calls = 0;
}

void test_lock_signal_after(void)
{
	int inside = -1;

	key = pkt_key(0);
	install(0);
	pk__test_under_lock(send_queued, &inside);
	expect_after(inside, SI_QUEUE);
	CHECK_EQ(got_value, 4242);
	/* kill(): the kernel's code for it comes through too. */
	pk__test_under_lock(send_kill, &inside);
	expect_after(inside, SI_USER);
	/* A handler that does not block its own signal. */
	install(SA_NODEFER);
	pk__test_under_lock(send_queued, &inside);
	expect_after(inside, SI_QUEUE);
}

/* The same from a thread other than the process's first. */
static void *second_thread(void *arg)
{
	int inside = -1;

	CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, arg, NULL), 0);
	pk__test_under_lock(send_kill, &inside);
	CHECK_EQ(inside, 0);
	CHECK_EQ(calls, 1);
	CHECK_EQ(got_code, SI_USER);
	CHECK_EQ(got_pid, getpid());
	CHECK_EQ(rights_in_handler, PK_DISABLE_WRITE);
	return NULL;
}

void test_lock_signal_other_thread(void)
{
	pthread_t t;
	sigset_t usr1;

	key = pkt_key(0);
	install(0);
	/* kill() goes to a thread that does not block it: the new one
	 * (it unblocks what it inherits). */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &usr1, NULL), 0);
	CHECK_EQ(pthread_create(&t, NULL, second_thread, &usr1), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
}

/*
 * A handler installed with the raw system call, after the first key:
 * the library does not stand in front of it.
 */
static volatile int raw_calls;

static void on_raw(int sig)
{
	(void)sig;
	pk_set(key, PK_DISABLE_WRITE);
	raw_calls++;
}

#if defined(__x86_64__)
/* x86-64 handlers return through a restorer the caller provides. */
void pkt_raw_restorer(void);
__asm__(".text\n"
	"pkt_raw_restorer:\n\t"
	"mov $15, %rax\n\t" /* rt_sigreturn */
	"syscall\n");
#define RAW_FLAGS 0x04000000UL /* SA_RESTORER */
#define RAW_RESTORER pkt_raw_restorer
#else
#define RAW_FLAGS 0UL
#define RAW_RESTORER NULL
#endif

static void install_raw(int sig)
{
	struct {
		void (*handler)(int);
		unsigned long flags;
		void (*restorer)(void);
		unsigned long mask;
	} ka = {on_raw, RAW_FLAGS, RAW_RESTORER, 0};

	CHECK_EQ(syscall(SYS_rt_sigaction, sig, &ka, NULL, 8), 0);
}

static void raise_usr2(void *arg)
{
	(void)arg;
	CHECK_EQ(raise(SIGUSR2), 0);
}

void test_lock_unwrapped_handler(void)
{
	int out[2], status, defers;
	char buf[512] = {0};
	pid_t pid;

	key = pkt_key(0);
	defers = pk__test_lock_defers();
	install_raw(SIGUSR2);
	CHECK_EQ(pipe(out), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		dup2(out[1], 2);
		pk__test_under_lock(raise_usr2, NULL);
		_exit(raw_calls == 1 ? 0 : 3);
	}
	close(out[1]);
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	(void)!read(out[0], buf, sizeof(buf) - 1);
	close(out[0]);
	if (defers) {
		/* Held back would need the wrapper: it stops, and says so. */
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
		CHECK(strstr(buf, "does not wrap") != NULL);
	} else {
		/* Blocked while the lock is held: it ran after. */
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

/*
 * SA_RESETHAND: the one-shot handler runs once, after the lock, and
 * then the default is back, in sigaction(2) and in the kernel, as
 * without the library.  In a child: the default action of SIGUSR1,
 * run by mistake, ends the process.
 */
static volatile int oneshot_calls;

static void on_oneshot(int sig)
{
	(void)sig;
	oneshot_calls++;
}

static void send_usr1(void *arg)
{
	(void)arg;
	CHECK_EQ(kill(getpid(), SIGUSR1), 0);
}

/* The handler the kernel itself would call for sig. */
static void *kernel_handler(int sig)
{
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} ka;

	CHECK_EQ(syscall(SYS_rt_sigaction, sig, NULL, &ka, 8), 0);
	return ka.handler;
}

static void oneshot_child(void)
{
	struct sigaction sa, now;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_oneshot;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	CHECK_EQ(sigaction(SIGUSR1, NULL, &now), 0);
	CHECK(now.sa_handler == on_oneshot);
	CHECK(now.sa_flags & SA_RESETHAND);
	pk__test_under_lock(send_usr1, NULL);
	CHECK_EQ(oneshot_calls, 1);
	CHECK_EQ(sigaction(SIGUSR1, NULL, &now), 0);
	CHECK(now.sa_handler == SIG_DFL);
	CHECK(kernel_handler(SIGUSR1) == SIG_DFL);
	_exit(0);
}

void test_lock_signal_resethand(void)
{
	int status;
	pid_t pid;

	key = pkt_key(0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		oneshot_child();
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	/* Not killed by its own SIGUSR1, and every check passed. */
	CHECK_EQ(WIFSIGNALED(status) ? WTERMSIG(status) : 0, 0);
	CHECK_EQ(WEXITSTATUS(status), 0);
}

/*
 * Another signal's handler that takes the lock, run in the moment the
 * lock lets go (no longer busy, the held signals not yet released):
 * the held signal still runs, and is left unblocked.  The test hook
 * sends that signal in the moment itself.
 */
void pk__test_lock_release_window(void (*fn)(void));

static volatile int held_calls, window_calls;

static void on_held(int sig)
{
	(void)sig;
	held_calls++;
}

static void on_nested(int sig)
{
	(void)sig;
	window_calls++;
	/* Takes the lock and lets it go, inside the outer release. */
	CHECK_EQ(pk_set(key, PK_DISABLE_WRITE), 0);
	CHECK_EQ(pk_set(key, 0), 0);
}

static void in_window(void)
{
	CHECK_EQ(pthread_kill(pthread_self(), SIGUSR2), 0);
}

static void hold_usr1(void *arg)
{
	(void)arg;
	CHECK_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
	pk__test_lock_release_window(in_window);
}

void test_lock_signal_nested_release(void)
{
	struct sigaction sa;
	sigset_t now;

	key = pkt_key(0);
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_held;
	CHECK_EQ(sigaction(SIGUSR1, &sa, NULL), 0);
	sa.sa_handler = on_nested;
	CHECK_EQ(sigaction(SIGUSR2, &sa, NULL), 0);
	pk__test_under_lock(hold_usr1, NULL);
	CHECK_EQ(held_calls, 1);
	/* The window exists only where the lock holds signals back. */
	CHECK_EQ(window_calls, pk__test_lock_defers());
	CHECK_EQ(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	CHECK(!sigismember(&now, SIGUSR1));
	CHECK_EQ(kill(getpid(), SIGUSR1), 0);
	CHECK_EQ(held_calls, 2);
}

/*
 * Real-time signals that arrive inside the lock when the queue of
 * pending signals is full (RLIMIT_SIGPENDING): they cannot be queued
 * again to wait for the release, and still run after it, once each,
 * with their siginfo (the library keeps a few: past those the kernel's
 * rule for a full queue, the signal without it).  The limit goes to 0
 * while the signals are pending.
 */
#define RT_SENT 3

static volatile int rt_calls, rt_rights;
static int rt_runs[RT_SENT + 1], rt_code[RT_SENT + 1], rt_value[RT_SENT + 1];
static struct rlimit pending_limit;

static void on_rt(int sig, siginfo_t *info, void *uc)
{
	int i = sig - SIGRTMIN;

	(void)uc;
	rt_calls++;
	if (i > 0 && i <= RT_SENT) {
		rt_runs[i]++;
		rt_code[i] = info->si_code;
		rt_value[i] = info->si_value.sival_int;
	}
	CHECK_EQ(pk_set(key, PK_DISABLE_WRITE), 0);
	rt_rights = pk_get(key);
}

static void send_full(void *arg)
{
	/* The soft limit only: the hard one would not come back. */
	struct rlimit none = {0, pending_limit.rlim_max};
	union sigval v = {.sival_int = 77};
	sigset_t rt;

	sigemptyset(&rt);
	for (int i = 1; i <= RT_SENT; i++)
		sigaddset(&rt, SIGRTMIN + i);
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, &rt, NULL), 0);
	for (int i = 1; i <= RT_SENT; i++)
		CHECK_EQ(sigqueue(getpid(), SIGRTMIN + i, v), 0);
	CHECK_EQ(setrlimit(RLIMIT_SIGPENDING, &none), 0);
	/*
	 * Where the lock holds signals back, they arrive here and are held
	 * back.  Where it blocks them (hardware backend, static program,
	 * sanitizers), they stay blocked until it lets go, as the program's
	 * own mask had them: unblocked here, they would run inside.
	 */
	if (pk__test_lock_defers())
		CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, &rt, NULL), 0);
	*(int *)arg = rt_calls;
}

void test_lock_signal_queue_full(void)
{
	struct sigaction sa;
	sigset_t now;
	int inside = -1, kept = 0;

	key = pkt_key(0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	for (int i = 1; i <= RT_SENT; i++)
		CHECK_EQ(sigaction(SIGRTMIN + i, &sa, NULL), 0);
	CHECK_EQ(getrlimit(RLIMIT_SIGPENDING, &pending_limit), 0);
	pk__test_under_lock(send_full, &inside);
	CHECK_EQ(setrlimit(RLIMIT_SIGPENDING, &pending_limit), 0);
	CHECK_EQ(inside, 0);
	CHECK_EQ(rt_calls, RT_SENT);
	for (int i = 1; i <= RT_SENT; i++) {
		CHECK_EQ(rt_runs[i], 1);
		CHECK(rt_code[i] == SI_USER || rt_code[i] == SI_QUEUE);
		CHECK_EQ(rt_value[i], rt_code[i] == SI_QUEUE ? 77 : 0);
		kept += rt_code[i] == SI_QUEUE;
	}
	/* The first held back at least kept its siginfo. */
	CHECK(kept >= 1);
	CHECK_EQ(rt_rights, PK_DISABLE_WRITE);
	CHECK_EQ(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	for (int i = 1; i <= RT_SENT; i++)
		CHECK(!sigismember(&now, SIGRTMIN + i));
}

/*
 * SIGTRAP and SIGSYS sent by kill(), inside the lock: asynchronous,
 * whatever their number says, so held back like any other, and their
 * handler, which calls the library, runs after.  In a child: run inside
 * the lock, that call stops the program.
 */
static volatile int sent_calls, sent_code, sent_rights;

static void on_sent(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	sent_calls++;
	sent_code = info->si_code;
	CHECK_EQ(pk_set(key, PK_DISABLE_WRITE), 0);
	sent_rights = pk_get(key);
}

static void send_sig(void *arg)
{
	int *sig_then_calls = arg;

	CHECK_EQ(kill(getpid(), *sig_then_calls), 0);
	*sig_then_calls = sent_calls;
}

static void sent_child(int sig)
{
	struct sigaction sa;
	int inside = sig;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sent;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(sig, &sa, NULL), 0);
	pk__test_under_lock(send_sig, &inside);
	CHECK_EQ(inside, 0);
	CHECK_EQ(sent_calls, 1);
	CHECK_EQ(sent_code, SI_USER);
	CHECK_EQ(sent_rights, PK_DISABLE_WRITE);
	_exit(0);
}

void test_lock_signal_trap_sent(void)
{
	static const int sigs[] = {SIGTRAP, SIGSYS};
	int status;
	pid_t pid;

	key = pkt_key(0);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		pid = fork();
		CHECK(pid >= 0);
		if (pid == 0)
			sent_child(sigs[i]);
		CHECK_EQ(waitpid(pid, &status, 0), pid);
		CHECK_EQ(WIFSIGNALED(status) ? WTERMSIG(status) : 0, 0);
		CHECK_EQ(WEXITSTATUS(status), 0);
	}
}

/*
 * Instances of one real-time signal sent to a thread while it holds
 * the lock (another thread sends eight, numbered) reach its handler in
 * the order they were sent, as the kernel delivers them.
 */
#define RT_ORDER 8

static volatile int order_seen[RT_ORDER], order_n;
static volatile int order_go, order_sent;
static pid_t order_target; /* the thread's id */

static void on_order(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	(void)uc;
	if (order_n < RT_ORDER)
		order_seen[order_n] = info->si_value.sival_int;
	order_n++;
}

static void *order_sender(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&order_go, __ATOMIC_ACQUIRE))
		sched_yield();
	for (int v = 1; v <= RT_ORDER; v++) {
		siginfo_t si;

		/* pthread_sigqueue, which musl lacks. */
		memset(&si, 0, sizeof(si));
		si.si_signo = SIGRTMIN + 1;
		si.si_code = SI_QUEUE;
		si.si_pid = getpid();
		si.si_uid = getuid();
		si.si_value.sival_int = v;
		CHECK_EQ(syscall(SYS_rt_tgsigqueueinfo, getpid(), order_target,
				 SIGRTMIN + 1, &si),
			 0);
	}
	__atomic_store_n(&order_sent, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Inside the lock until all were sent (some reach the handler here). */
static void wait_sent(void *arg)
{
	(void)arg;
	__atomic_store_n(&order_go, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&order_sent, __ATOMIC_ACQUIRE))
		;
	for (volatile int i = 0; i < 1000000; i++)
		;
}

void test_lock_signal_rt_order(void)
{
	struct sigaction sa;
	pthread_t t;

	key = pkt_key(0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_order;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGRTMIN + 1, &sa, NULL), 0);
	order_target = (pid_t)syscall(SYS_gettid);
	for (int round = 0; round < 20; round++) {
		order_go = order_sent = order_n = 0;
		CHECK_EQ(pthread_create(&t, NULL, order_sender, NULL), 0);
		pk__test_under_lock(wait_sent, NULL);
		CHECK_EQ(pthread_join(t, NULL), 0);
		CHECK_EQ(order_n, RT_ORDER);
		for (int i = 0; i < RT_ORDER; i++)
			if (order_seen[i] != i + 1)
				pkt_fail(__FILE__, __LINE__,
					 "round %d: signal %d came as number %d",
					 round, order_seen[i], i + 1);
	}
}
