/* SPDX-License-Identifier: MIT */
/*
 * Entering the same domain again.  On hardware a thread keeps the last
 * domain it entered worked out, and enters it again by comparing
 * entries; these tests change what the domain says, free its keys,
 * nest it with other domains and interrupt it with signal handlers,
 * and check that every call does what the domain says now.  The same
 * bodies run on the emulation, where nothing is kept.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pktest.h"

#define RW (PROT_READ | PROT_WRITE)

static void enter_leave(const struct pk_domain_entry *d, int n, int times)
{
	struct pk_domain_saved s;

	for (int i = 0; i < times; i++) {
		CHECK_EQ(pk_domain_enter(d, n, &s), 0);
		CHECK_EQ(pk_domain_leave(&s), 0);
	}
}

/* The array changes between entries: its rights, then a key. */
void test_domain_memo_entries_change(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS), b = pkt_key(PK_DISABLE_ACCESS);
	int c = pkt_key(PK_DISABLE_ACCESS);
	size_t pg = pkt_page();
	char *p = pkt_map(3, RW);
	struct pk_domain_entry d[] = {{a, 0}, {b, PK_DISABLE_WRITE}};
	struct pk_domain_saved s;

	CHECK_EQ(pk_mprotect(p, pg, RW, a), 0);
	CHECK_EQ(pk_mprotect(p + pg, pg, RW, b), 0);
	CHECK_EQ(pk_mprotect(p + 2 * pg, pg, RW, c), 0);
	enter_leave(d, 2, 3);
	d[1].rights = 0;
	CHECK_EQ(pk_domain_enter(d, 2, &s), 0);
	CHECK_EQ(pk_get(b), 0);
	EXPECT_OK(p + pg, W);
	CHECK_EQ(pk_domain_leave(&s), 0);
	CHECK_EQ(pk_get(b), PK_DISABLE_ACCESS);
	EXPECT_FAULT(p + pg, R, b);
	d[0].key = c;
	CHECK_EQ(pk_domain_enter(d, 2, &s), 0);
	CHECK_EQ(pk_get(c), 0);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	EXPECT_OK(p + 2 * pg, W);
	EXPECT_FAULT(p, R, a);
	CHECK_EQ(pk_domain_leave(&s), 0);
	EXPECT_FAULT(p + 2 * pg, R, c);
	/* Fewer entries than before: the same first entry alone. */
	CHECK_EQ(pk_domain_enter(d, 1, &s), 0);
	CHECK_EQ(s.n, 1);
	CHECK_EQ(pk_get(c), 0);
	CHECK_EQ(pk_get(b), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_domain_leave(&s), 0);
	CHECK_EQ(pk_get(c), PK_DISABLE_ACCESS);
	/* Bad rights after good entries: refused, nothing changed. */
	d[1].rights = 8;
	CHECK_EQ(pk_domain_enter(d, 2, &s), -EINVAL);
	CHECK_EQ(pk_get(c), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_get(b), PK_DISABLE_ACCESS);
}

/*
 * A key of the domain freed between entries (and its number given to a
 * new key): the domain is refused while the number is free, and names
 * the new key once it is allocated again.
 */
void test_domain_memo_key_freed(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS), b = pkt_key(PK_DISABLE_ACCESS);
	size_t pg = pkt_page();
	char *p = pkt_map(2, RW);
	struct pk_domain_entry d[] = {{a, PK_DISABLE_WRITE}, {b, 0}};
	struct pk_domain_saved s;
	int again;

	CHECK_EQ(pk_mprotect(p, pg, RW, a), 0);
	enter_leave(d, 2, 3);
	CHECK_EQ(pk_key_free(b), 0);
	CHECK_EQ(pk_domain_enter(d, 2, &s), -EINVAL);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	EXPECT_FAULT(p, R, a);
	/* The lowest free number comes back first. */
	again = pkt_key(PK_DISABLE_ACCESS);
	if (again != b)
		pkt_skip("the freed key's number was not given again");
	CHECK_EQ(pk_mprotect(p + pg, pg, RW, again), 0);
	EXPECT_FAULT(p + pg, R, again);
	CHECK_EQ(pk_domain_enter(d, 2, &s), 0);
	CHECK_EQ(pk_get(again), 0);
	EXPECT_OK(p + pg, W);
	EXPECT_FAULT(p, W, a);
	CHECK_EQ(pk_domain_leave(&s), 0);
	EXPECT_FAULT(p + pg, R, again);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_mprotect(p + pg, pg, RW, 0), 0);
	CHECK_EQ(pk_key_free(again), 0);
}

/* The same domain nested: each level counts; the keys stay in use. */
void test_domain_memo_nested(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS);
	char *p = pkt_map(1, RW);
	struct pk_domain_entry d = {a, 0}, w = {a, PK_DISABLE_WRITE};
	struct pk_domain_saved s[4];

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, a), 0);
	CHECK_EQ(pk_domain_enter(&d, 1, &s[0]), 0);
	CHECK_EQ(pk_domain_enter(&w, 1, &s[1]), 0);
	CHECK_EQ(pk_domain_enter(&d, 1, &s[2]), 0);
	CHECK_EQ(pk_domain_enter(&d, 1, &s[3]), 0);
	CHECK_EQ(pk_key_free(a), -EBUSY);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_domain_leave(&s[3]), 0);
	CHECK_EQ(pk_domain_leave(&s[2]), 0);
	CHECK_EQ(pk_get(a), PK_DISABLE_WRITE);
	EXPECT_FAULT(p, W, a);
	CHECK_EQ(pk_key_free(a), -EBUSY);
	CHECK_EQ(pk_domain_leave(&s[1]), 0);
	CHECK_EQ(pk_get(a), 0);
	CHECK_EQ(pk_key_free(a), -EBUSY);
	CHECK_EQ(pk_domain_leave(&s[0]), 0);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	/* Every level was counted out once: one more leave is refused. */
	CHECK_EQ(pk_domain_leave(&s[0]), -EINVAL);
	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, 0), 0);
	CHECK_EQ(pk_key_free(a), 0);
}

/*
 * 255 entries of one key whichever way they are counted: the same
 * domain entered again and again, and a second domain sharing the key
 * in between.
 */
void test_domain_memo_limit(void)
{
	static struct pk_domain_saved s[256];
	int a = pkt_key(0), b = pkt_key(0), i;
	struct pk_domain_entry d = {a, 0};
	struct pk_domain_entry e[] = {{b, 0}, {a, PK_DISABLE_WRITE}};

	for (i = 0; i < 200; i++)
		CHECK_EQ(pk_domain_enter(&d, 1, &s[i]), 0);
	for (; i < 250; i++)
		CHECK_EQ(pk_domain_enter(e, 2, &s[i]), 0);
	for (; i < 255; i++)
		CHECK_EQ(pk_domain_enter(&d, 1, &s[i]), 0);
	CHECK_EQ(pk_domain_enter(&d, 1, &s[255]), -EBUSY);
	CHECK_EQ(pk_domain_enter(e, 2, &s[255]), -EBUSY);
	CHECK_EQ(pk_get(a), 0);
	/* Leaving s[i] brings back what s[i - 1]'s domain gave. */
	for (i = 254; i >= 0; i--) {
		CHECK_EQ(pk_domain_leave(&s[i]), 0);
		CHECK_EQ(pk_get(a), i > 200 && i <= 250 ? PK_DISABLE_WRITE : 0);
	}
	CHECK_EQ(pk_get(a), 0);
	CHECK_EQ(pk_key_free(a), 0);
	CHECK_EQ(pk_key_free(b), 0);
}

/* Two domains, alternating and nested: each leave restores its own. */
void test_domain_memo_two_domains(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS), b = pkt_key(PK_DISABLE_ACCESS);
	struct pk_domain_entry d = {a, 0}, e = {b, PK_DISABLE_WRITE};
	struct pk_domain_entry both[] = {{a, PK_DISABLE_WRITE}, {b, 0}};
	struct pk_domain_saved s1, s2, s3;

	for (int round = 0; round < 3; round++) {
		CHECK_EQ(pk_domain_enter(&d, 1, &s1), 0);
		CHECK_EQ(pk_domain_enter(&d, 1, &s2), 0);
		CHECK_EQ(pk_domain_enter(&e, 1, &s3), 0);
		CHECK_EQ(pk_get(a), 0);
		CHECK_EQ(pk_get(b), PK_DISABLE_WRITE);
		CHECK_EQ(pk_domain_leave(&s3), 0);
		CHECK_EQ(pk_get(b), PK_DISABLE_ACCESS);
		CHECK_EQ(pk_domain_enter(both, 2, &s3), 0);
		CHECK_EQ(pk_get(a), PK_DISABLE_WRITE);
		CHECK_EQ(pk_get(b), 0);
		CHECK_EQ(pk_domain_leave(&s3), 0);
		CHECK_EQ(pk_domain_leave(&s2), 0);
		CHECK_EQ(pk_get(a), 0);
		CHECK_EQ(pk_key_free(a), -EBUSY);
		CHECK_EQ(pk_domain_leave(&s1), 0);
		CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
		CHECK_EQ(pk_get(b), PK_DISABLE_ACCESS);
	}
	CHECK_EQ(pk_key_free(a), 0);
	CHECK_EQ(pk_key_free(b), 0);
}

/*
 * A signal handler entering and leaving domains (one sharing the
 * thread's keys, and another sharing a key with it) while the thread
 * enters and leaves its own: at every step each side sees its own
 * rights, and no count is left behind (the keys free at the end).
 */
#if defined(__SANITIZE_THREAD__)
void test_domain_memo_signals(void)
{
	/* The library's wrapper runs the entry rights' code in the raw
	 * signal context; ThreadSanitizer's runtime, interrupted inside an
	 * atomic operation on the same record, deadlocks on its own lock
	 * when that code's atomics reach it (1 run in 5 here). */
	pkt_skip("ThreadSanitizer deadlocks when a handler's atomics meet "
		 "those of the code it interrupted");
}
#else
static int sm_keys[3];
static volatile sig_atomic_t sm_handled, sm_bad;

static void sm_handler(int sig)
{
	struct pk_domain_entry same[] = {{sm_keys[0], 0}, {sm_keys[1], 0}};
	struct pk_domain_entry other[] = {{sm_keys[1], PK_DISABLE_WRITE},
					  {sm_keys[2], 0}};
	struct pk_domain_saved s1, s2;
	int r0, r1;

	(void)sig;
	if (pk_domain_enter(same, 2, &s1) != 0)
		sm_bad = 1;
	else {
		if (pk_get(sm_keys[0]) != 0 || pk_get(sm_keys[1]) != 0)
			sm_bad = 2;
		if (pk_domain_enter(other, 2, &s2) != 0)
			sm_bad = 3;
		else {
			if (pk_get(sm_keys[1]) != PK_DISABLE_WRITE ||
			    pk_get(sm_keys[2]) != 0)
				sm_bad = 4;
			if (pk_domain_leave(&s2) != 0)
				sm_bad = 5;
		}
		if (pk_domain_leave(&s1) != 0)
			sm_bad = 6;
	}
	/*
	 * Back to the thread's rights: for each key, as before or after
	 * the thread's call this handler interrupted (a call writes the
	 * record, then the register; leaving restores the record's).
	 */
	r0 = pk_get(sm_keys[0]);
	r1 = pk_get(sm_keys[1]);
	if ((r0 != PK_DISABLE_ACCESS && r0 != PK_DISABLE_WRITE) ||
	    (r1 != PK_DISABLE_ACCESS && r1 != 0) ||
	    pk_get(sm_keys[2]) != PK_DISABLE_ACCESS)
		sm_bad = 7;
	sm_handled++;
}

void test_domain_memo_signals(void)
{
	struct itimerval it = {{0, 100}, {0, 100}};
	struct pk_domain_entry mine[] = {{0, PK_DISABLE_WRITE}, {0, 0}};
	struct pk_domain_saved s;
	time_t start = time(NULL);
	long rounds = 0;

	for (int i = 0; i < 3; i++)
		sm_keys[i] = pkt_key(PK_DISABLE_ACCESS);
	mine[0].key = sm_keys[0];
	mine[1].key = sm_keys[1];
	CHECK(signal(SIGALRM, sm_handler) != SIG_ERR);
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
	/* Until the handler ran 200 times, or for 4 s (see
	 * signal_safe_calls on ThreadSanitizer). */
	while (sm_handled < 200 && time(NULL) - start <= 4) {
		CHECK_EQ(pk_domain_enter(mine, 2, &s), 0);
		CHECK_EQ(pk_get(sm_keys[0]), PK_DISABLE_WRITE);
		CHECK_EQ(pk_get(sm_keys[1]), 0);
		CHECK_EQ(pk_domain_leave(&s), 0);
		CHECK_EQ(pk_get(sm_keys[0]), PK_DISABLE_ACCESS);
		CHECK_EQ(pk_get(sm_keys[1]), PK_DISABLE_ACCESS);
		if (++rounds % 64 == 0)
			usleep(10);
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	signal(SIGALRM, SIG_IGN);
	CHECK_EQ(sm_bad, 0);
	CHECK(sm_handled >= 5);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(pk_get(sm_keys[i]), PK_DISABLE_ACCESS);
		CHECK_EQ(pk_key_free(sm_keys[i]), 0);
	}
}
#endif

/*
 * A domain refused after some of its entries were taken in (a key of
 * it is not allocated), while another thread's pk_set_all makes this
 * thread rebuild its register from its record: the refusal changes
 * nothing, also in the register.
 */
static int rf_key, rf_stop;

static void *rf_set_all(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&rf_stop, __ATOMIC_ACQUIRE)) {
		CHECK_EQ(pk_set_all(rf_key, 0), 0);
		CHECK_EQ(pk_set_all(rf_key, PK_DISABLE_WRITE), 0);
	}
	return NULL;
}

void test_domain_refused_under_set_all(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS), b = pkt_key(PK_DISABLE_ACCESS);
	int gone = pkt_key(0);
	char *p = pkt_map(1, RW);
	struct pk_domain_entry d[] = {{a, 0}, {b, 0}, {gone, 0}};
	struct pk_domain_saved s;
	time_t end = time(NULL) + 2;
	pthread_t t;
	long calls = 0;

	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, a), 0);
	rf_key = pkt_key(0); /* before the number of gone is free */
	CHECK_EQ(pk_key_free(gone), 0);
	CHECK_EQ(pthread_create(&t, NULL, rf_set_all, NULL), 0);
	while (time(NULL) <= end) {
		for (int i = 0; i < 200; i++, calls++) {
			CHECK_EQ(pk_domain_enter(d, 3, &s), -EINVAL);
			if (pk_get(a) != PK_DISABLE_ACCESS ||
			    pk_get(b) != PK_DISABLE_ACCESS)
				pkt_fail(__FILE__, __LINE__,
					 "call %ld: rights %d and %d after a "
					 "refused entry",
					 calls, pk_get(a), pk_get(b));
		}
	}
	__atomic_store_n(&rf_stop, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t, NULL), 0);
	EXPECT_FAULT(p, R, a);
}
