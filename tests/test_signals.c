/* SPDX-License-Identifier: MIT */
/*
 * Handlers of every signal see the rights the hardware's kernel gives
 * them, on either backend: on x86 every key but 0 access-disabled at
 * entry and the interrupted rights back on return, on POWER the
 * interrupted rights kept and what the handler sets staying.  A handler
 * that leaves by siglongjmp keeps what it set, on both.  And sigaction
 * tells the program what it installed, whoever stands in between.
 */
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>

#include "pktest.h"

#define RW (PROT_READ | PROT_WRITE)

static int key;
static volatile int seen = -1, calls;
static sigjmp_buf jump;

static void on_info(int sig, siginfo_t *info, void *uc)
{
	(void)uc;
	calls++;
	if (sig != SIGUSR2 || !info || info->si_signo != SIGUSR2)
		seen = -2;
	else
		seen = pk_get(key);
	pk_set(key, PK_DISABLE_WRITE);
}

/* on_info for SIGUSR2, with flags. */
static void install_info(int flags)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_info;
	sa.sa_flags = SA_SIGINFO | flags;
	sigemptyset(&sa.sa_mask);
	if (flags & SA_RESTART)
		sigaddset(&sa.sa_mask, SIGUSR1);
	CHECK_EQ(sigaction(SIGUSR2, &sa, NULL), 0);
}

/* What the handler saw, and the rights after it returned. */
static void expect_entry(void)
{
	if (pkt_handler_resets()) {
		CHECK_EQ(seen, PK_DISABLE_ACCESS);
		CHECK_EQ(pk_get(key), 0);
	} else {
		CHECK_EQ(seen, 0);
		CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
	}
}

void test_signal_entry_sigaction(void)
{
	struct sigaction sa, old;

	key = pkt_key(0);
	install_info(SA_RESTART); /* with SIGUSR1 in its mask */
	CHECK_EQ(raise(SIGUSR2), 0);
	CHECK_EQ(calls, 1);
	expect_entry();
	/* What the program installed comes back, not a wrapper. */
	CHECK_EQ(sigaction(SIGUSR2, NULL, &old), 0);
	CHECK(old.sa_sigaction == on_info);
	CHECK(old.sa_flags & SA_SIGINFO);
	CHECK(old.sa_flags & SA_RESTART);
	CHECK(sigismember(&old.sa_mask, SIGUSR1));
	CHECK(!sigismember(&old.sa_mask, SIGHUP));
	/* And replacing it hands back the same. */
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	CHECK_EQ(sigaction(SIGUSR2, &sa, &old), 0);
	CHECK(old.sa_sigaction == on_info);
	CHECK_EQ(raise(SIGUSR2), 0);
	CHECK_EQ(calls, 1);
}

/* Installed before the program had a key: the same. */
void test_signal_entry_before_key(void)
{
	struct sigaction old;

	install_info(0);
	key = pkt_key(0);
	CHECK_EQ(raise(SIGUSR2), 0);
	CHECK_EQ(calls, 1);
	expect_entry();
	CHECK_EQ(sigaction(SIGUSR2, NULL, &old), 0);
	CHECK(old.sa_sigaction == on_info);
}

static void on_plain(int sig)
{
	(void)sig;
	calls++;
	seen = pk_get(key);
	pk_set(key, PK_DISABLE_WRITE);
}

/* signal(3), and its answer: the program's previous handler. */
void test_signal_entry_signal(void)
{
	key = pkt_key(0);
	CHECK(signal(SIGUSR2, on_plain) == SIG_DFL);
	CHECK_EQ(raise(SIGUSR2), 0);
	CHECK_EQ(calls, 1);
	expect_entry();
	CHECK(signal(SIGUSR2, SIG_IGN) == on_plain);
	CHECK(signal(SIGUSR2, SIG_DFL) == SIG_IGN);
}

static void on_jump(int sig)
{
	(void)sig;
	seen = pk_get(key);
	pk_set(key, PK_DISABLE_WRITE);
	siglongjmp(jump, 1);
}

/* Leaving by siglongjmp keeps the handler's rights, as the kernel does. */
void test_signal_entry_siglongjmp(void)
{
	char *p = pkt_map(1, RW);

	key = pkt_key(0);
	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, key), 0);
	CHECK(signal(SIGUSR2, on_jump) != SIG_ERR);
	if (sigsetjmp(jump, 1) == 0) {
		raise(SIGUSR2);
		pkt_fail(__FILE__, __LINE__, "the handler returned");
	}
	CHECK_EQ(seen, pkt_handler_resets() ? PK_DISABLE_ACCESS : 0);
	CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
	EXPECT_OK(p, R);
	EXPECT_FAULT(p, W, key);
}

/* SA_RESETHAND: one call, then the default, and sigaction says so. */
void test_signal_entry_resethand(void)
{
	struct sigaction old;

	key = pkt_key(0);
	install_info(SA_RESETHAND);
	CHECK_EQ(raise(SIGUSR2), 0);
	CHECK_EQ(calls, 1);
	expect_entry();
	CHECK_EQ(sigaction(SIGUSR2, NULL, &old), 0);
	CHECK(old.sa_handler == SIG_DFL);
}
