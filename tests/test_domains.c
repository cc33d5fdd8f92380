/* SPDX-License-Identifier: MIT */
/*
 * Rights that reach every thread (pk_set_all, initial rights), domains,
 * many keys checked against a model, and calls from signal handlers.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "pktest.h"

#define RW (PROT_READ | PROT_WRITE)

void test_domain_nested(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS), b = pkt_key(PK_DISABLE_ACCESS);
	int c = pkt_key(0);
	char *p = pkt_map(3, RW);
	size_t pg = pkt_page();
	struct pk_domain_entry d1[] = {{a, 0}, {b, PK_DISABLE_WRITE}};
	struct pk_domain_entry d2[] = {{b, 0}, {c, PK_DISABLE_ACCESS}};
	struct pk_domain_saved s1, s2;

	CHECK_EQ(pk_mprotect(p, pg, RW, a), 0);
	CHECK_EQ(pk_mprotect(p + pg, pg, RW, b), 0);
	CHECK_EQ(pk_mprotect(p + 2 * pg, pg, RW, c), 0);
	CHECK_EQ(pk_domain_enter(d1, 2, &s1), 0);
	CHECK_EQ(pk_get(a), 0);
	CHECK_EQ(pk_get(b), PK_DISABLE_WRITE);
	EXPECT_OK(p, W);
	EXPECT_FAULT(p + pg, W, b);
	CHECK_EQ(pk_domain_enter(d2, 2, &s2), 0);
	CHECK_EQ(pk_get(a), 0);
	CHECK_EQ(pk_get(b), 0);
	CHECK_EQ(pk_get(c), PK_DISABLE_ACCESS);
	EXPECT_OK(p + pg, W);
	EXPECT_FAULT(p + 2 * pg, R, c);
	/* Keys in use by a domain cannot be freed. */
	CHECK_EQ(pk_key_free(c), -EBUSY);
	CHECK_EQ(pk_domain_leave(&s2), 0);
	CHECK_EQ(pk_get(b), PK_DISABLE_WRITE);
	CHECK_EQ(pk_get(c), 0);
	EXPECT_OK(p + 2 * pg, W);
	CHECK_EQ(pk_domain_leave(&s1), 0);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_get(b), PK_DISABLE_ACCESS);
	EXPECT_FAULT(p, R, a);
	CHECK_EQ(pk_mprotect(p + 2 * pg, pg, RW, 0), 0);
	CHECK_EQ(pk_key_free(c), 0);
}

void test_domain_bad_args(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS), gone = pkt_key(0);
	struct pk_domain_entry big[PK_DOMAIN_MAX + 1];
	struct pk_domain_entry bad_rights[] = {{a, 0}, {a, 4}};
	struct pk_domain_entry bad_key[] = {{a, 0}, {gone, 0}};
	struct pk_domain_saved s, junk = {1, {a}, {0}};

	CHECK_EQ(pk_key_free(gone), 0);
	for (int i = 0; i <= PK_DOMAIN_MAX; i++)
		big[i] = (struct pk_domain_entry){a, 0};
	CHECK_EQ(pk_domain_enter(big, 0, &s), -EINVAL);
	CHECK_EQ(pk_domain_enter(big, PK_DOMAIN_MAX + 1, &s), -EINVAL);
	CHECK_EQ(pk_domain_enter(bad_rights, 2, &s), -EINVAL);
	CHECK_EQ(pk_domain_enter(bad_key, 2, &s), -EINVAL);
	CHECK_EQ(pk_domain_enter(NULL, 1, &s), -EINVAL);
	CHECK_EQ(pk_domain_enter(big, 1, NULL), -EINVAL);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	/* Leaving a domain that was never entered changes nothing. */
	CHECK_EQ(pk_domain_leave(&junk), -EINVAL);
	CHECK_EQ(pk_domain_leave(NULL), -EINVAL);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_key_free(a), 0);
}

/*
 * A saved state naming a key twice, for a domain the thread entered
 * once: leaving it would count the thread out twice.  It is refused and
 * changes nothing: the key stays in use, the real leave still works.
 */
void test_domain_leave_twice_named(void)
{
	int a = pkt_key(PK_DISABLE_ACCESS), b = pkt_key(0);
	struct pk_domain_entry d[] = {{a, 0}, {b, PK_DISABLE_WRITE}};
	struct pk_domain_saved s, forged;

	CHECK_EQ(pk_domain_enter(d, 2, &s), 0);
	forged = s;
	forged.n = 3;
	forged.keys[2] = a;
	forged.rights[2] = PK_DISABLE_WRITE;
	CHECK_EQ(pk_domain_leave(&forged), -EINVAL);
	CHECK_EQ(pk_get(a), 0);
	CHECK_EQ(pk_get(b), PK_DISABLE_WRITE);
	CHECK_EQ(pk_key_free(a), -EBUSY);
	CHECK_EQ(pk_domain_leave(&s), 0);
	CHECK_EQ(pk_get(a), PK_DISABLE_ACCESS);
	CHECK_EQ(pk_get(b), 0);
	/* Counted out once: leaving again is refused. */
	CHECK_EQ(pk_domain_leave(&s), -EINVAL);
	CHECK_EQ(pk_key_free(a), 0);
	CHECK_EQ(pk_key_free(b), 0);
}

static int dom_key;

static void *enter_and_exit(void *arg)
{
	struct pk_domain_entry d[] = {{dom_key, 0}};
	struct pk_domain_saved s;

	(void)arg;
	CHECK_EQ(pk_domain_enter(d, 1, &s), 0);
	return NULL; /* exits inside the domain */
}

/* A thread that exits inside a domain leaves nothing behind. */
void test_domain_thread_exit(void)
{
	pthread_t t;

	dom_key = pkt_key(PK_DISABLE_ACCESS);
	CHECK_EQ(pthread_create(&t, NULL, enter_and_exit, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pk_key_free(dom_key), 0);
}

enum { NTHREADS = 16 };
static pthread_barrier_t all_bar;
static char *shared_page;
static int shared_key;
static int round_rights; /* written between barriers */

static void *watcher(void *arg)
{
	/* Each thread touches its own byte of the page. */
	char *mine = shared_page + (intptr_t)arg;

	for (int r = 0; r < 3; r++) {
		pthread_barrier_wait(&all_bar); /* main sets everyone's rights */
		pthread_barrier_wait(&all_bar);
		if (pk_get(shared_key) != round_rights)
			pkt_fail(__FILE__, __LINE__, "thread sees %d, want %d",
				 pk_get(shared_key), round_rights);
		if (round_rights == PK_DISABLE_WRITE) {
			EXPECT_OK(mine, R);
			EXPECT_FAULT(mine, W, shared_key);
		} else if (round_rights == 0) {
			EXPECT_OK(mine, W);
		}
	}
	return NULL;
}

void test_set_all_threads(void)
{
	static const unsigned rounds[] = {PK_DISABLE_WRITE, 0, PK_DISABLE_ACCESS};
	pthread_t t[NTHREADS];

	shared_page = pkt_map(1, RW);
	shared_key = pkt_key(PK_DISABLE_ACCESS);
	CHECK_EQ(pk_mprotect(shared_page, pkt_page(), RW, shared_key), 0);
	CHECK_EQ(pthread_barrier_init(&all_bar, NULL, NTHREADS + 1), 0);
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, watcher, (void *)(intptr_t)i), 0);
	for (int r = 0; r < 3; r++) {
		pthread_barrier_wait(&all_bar);
		round_rights = (int)rounds[r];
		CHECK_EQ(pk_set_all(shared_key, rounds[r]), 0);
		CHECK_EQ(pk_get(shared_key), rounds[r]);
		pthread_barrier_wait(&all_bar);
	}
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(pthread_join(t[i], NULL), 0);
	CHECK_EQ(pk_set_all(shared_key, 8), -EINVAL);
	CHECK_EQ(pk_set_all(0, PK_DISABLE_ACCESS), -EINVAL);
	CHECK_EQ(pk_get(shared_key), PK_DISABLE_ACCESS);
	EXPECT_FAULT(shared_page, R, shared_key);
}

static int stop_spawning;

static void *short_lived(void *arg)
{
	int r = pk_get(shared_key);

	(void)arg;
	if (r != 0 && r != PK_DISABLE_WRITE)
		pkt_fail(__FILE__, __LINE__, "new thread has rights %d", r);
	return NULL;
}

static void *spawner(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop_spawning, __ATOMIC_RELAXED)) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_lived, NULL) == 0)
			pthread_join(t, NULL);
	}
	return NULL;
}

/* Threads come and go while every thread's rights change. */
void test_set_all_stress(void)
{
	pthread_t sp[2];

	shared_key = pkt_key(0);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_create(&sp[i], NULL, spawner, NULL), 0);
	for (int i = 0; i < 200; i++)
		CHECK_EQ(pk_set_all(shared_key, i % 2 ? 0 : PK_DISABLE_WRITE), 0);
	__atomic_store_n(&stop_spawning, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 2; i++)
		CHECK_EQ(pthread_join(sp[i], NULL), 0);
	CHECK_EQ(pk_set_all(shared_key, PK_DISABLE_WRITE), 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, short_lived, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pk_get(shared_key), PK_DISABLE_WRITE);
}

/*
 * pk_set racing another thread's pk_set_all to the same rights: once
 * pk_set returns, the rights work, even while pk_set_all has written the
 * records and not yet opened the pages.  The other thread closes its
 * own rights after each pk_set_all, so that this thread's alone open
 * the page.
 */
static int race_stop;

enum { RACE_RANGES = 64 };

/* Every other page is keyed: 64 ranges, 64 mprotect calls to apply. */
static void write_shared(void *arg)
{
	(void)arg;
	for (int i = 0; i < RACE_RANGES; i++)
		shared_page[2 * i * pkt_page()] = 1;
}

static void *set_all_looper(void *arg)
{
	long *rounds = arg;

	while (!__atomic_load_n(&race_stop, __ATOMIC_RELAXED)) {
		CHECK_EQ(pk_set_all(shared_key, 0), 0);
		CHECK_EQ(pk_set(shared_key, PK_DISABLE_ACCESS), 0);
		__atomic_add_fetch(rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

void test_set_racing_set_all(void)
{
	if (pkt_exact_mode())
		pkt_skip("its read(2) into the range, by the kernel, while "
			 "another thread lacks the key fails in the exact mode");
	struct pk_fault f;
	pthread_t t;
	long rounds = 0, iter;
	int zero = open("/dev/zero", O_RDONLY);
	time_t end;

	shared_page = pkt_map(2 * RACE_RANGES, RW);
	shared_key = pkt_key(PK_DISABLE_ACCESS);
	for (int i = 0; i < RACE_RANGES; i++)
		CHECK_EQ(pk_mprotect(shared_page + 2 * i * pkt_page(),
				     pkt_page(), RW, shared_key),
			 0);
	CHECK_EQ(pthread_create(&t, NULL, set_all_looper, &rounds), 0);
	end = time(NULL) + 2;
	for (iter = 0; time(NULL) < end ||
		       __atomic_load_n(&rounds, __ATOMIC_RELAXED) < 100;
	     iter++) {
		CHECK_EQ(pk_set(shared_key, PK_DISABLE_ACCESS), 0);
		CHECK_EQ(pk_set(shared_key, 0), 0);
		/* The kernel's access first: no fault handler can hide it. */
		for (int i = 0; i < RACE_RANGES; i += RACE_RANGES - 1)
			if (read(zero, shared_page + 2 * i * pkt_page(), 1) != 1)
				pkt_fail(__FILE__, __LINE__,
					 "read(2) into range %d: %s after "
					 "pk_set(key, 0) returned (call %ld, "
					 "%ld pk_set_all calls)",
					 i, strerror(errno), iter, rounds);
		if (pk_try(write_shared, NULL, &f))
			pkt_fail(__FILE__, __LINE__,
				 "write faulted after pk_set(key, 0) returned "
				 "(call %ld, %ld pk_set_all calls)",
				 iter, rounds);
	}
	__atomic_store_n(&race_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	close(zero);
}

/*
 * As many keys as the backend gives, up to 1,000 (all of them virtual on
 * the emulation), each guarding its own page, with random rights; every
 * page's reads and writes checked against a model.
 */
void test_many_keys_model(void)
{
	enum { MAX = 1000 };
	static int keys[MAX];
	static unsigned model[MAX];
	size_t pg = pkt_page();
	int n = pk_keys_available();
	char *p;
	unsigned seed = 99;

	if (n > MAX)
		n = MAX;
	CHECK(n >= 10);
	p = pkt_map((size_t)n, RW);
	for (int i = 0; i < n; i++) {
		keys[i] = pkt_key(0);
		model[i] = 0;
		CHECK_EQ(pk_mprotect(p + i * pg, pg, RW, keys[i]), 0);
	}
	for (int op = 0; op < 4000; op++) {
		seed = seed * 1103515245u + 12345u;
		int i = (int)((seed >> 8) % (unsigned)n);
		unsigned r = (seed >> 20) % 3; /* 0, WD, AD */
		CHECK_EQ(pk_set(keys[i], r), 0);
		model[i] = r;
		seed = seed * 1103515245u + 12345u;
		int j = (int)((seed >> 8) % (unsigned)n);
		CHECK_EQ(pk_get(keys[j]), model[j]);
		if (model[j] & PK_DISABLE_ACCESS)
			EXPECT_FAULT(p + j * pg, R, keys[j]);
		else
			EXPECT_OK(p + j * pg, R);
		if (model[j])
			EXPECT_FAULT(p + j * pg + 1, W, keys[j]);
		else
			EXPECT_OK(p + j * pg + 1, W);
	}
}

/* Calls from a signal handler while the thread itself is in one. */
static int sig_keys[2];
static volatile int handled;

static void on_alarm(int sig)
{
	struct pk_domain_entry d[] = {{sig_keys[1], 0}};
	struct pk_domain_saved s;
	int before = pk_get(sig_keys[1]);

	(void)sig;
	if (pk_domain_enter(d, 1, &s) == 0) {
		if (pk_get(sig_keys[1]) != 0)
			_exit(3);
		pk_domain_leave(&s);
	}
	if (pk_get(sig_keys[1]) != before)
		_exit(4);
	pk_set(sig_keys[0], (unsigned)pk_get(sig_keys[0]));
	handled++;
}

void test_signal_safe_calls(void)
{
	struct itimerval it = {{0, 200}, {0, 200}};
	char *p = pkt_map(1, RW);
	time_t start = time(NULL);

	sig_keys[0] = pkt_key(0);
	sig_keys[1] = pkt_key(PK_DISABLE_ACCESS);
	CHECK_EQ(pk_mprotect(p, pkt_page(), RW, sig_keys[0]), 0);
	CHECK(signal(SIGALRM, on_alarm) != SIG_ERR);
	CHECK_EQ(setitimer(ITIMER_REAL, &it, NULL), 0);
	/*
	 * Until the handler ran 50 times, or for 3 s.  ThreadSanitizer
	 * delivers a signal only when the thread next enters a function it
	 * intercepts, which pk_set and pk_get are not: the short sleep now
	 * and then is such a point (most signals still land in the calls).
	 */
	for (int i = 0; handled < 50; i++) {
		CHECK_EQ(pk_set(sig_keys[0], i % 2 ? PK_DISABLE_WRITE : 0), 0);
		CHECK_EQ(pk_get(sig_keys[0]), i % 2 ? PK_DISABLE_WRITE : 0);
		if (i % 8 == 7)
			usleep(20);
		if (i % 1000 == 0 && time(NULL) - start > 3)
			break;
	}
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_REAL, &it, NULL);
	CHECK(handled >= 5);
	CHECK_EQ(pk_get(sig_keys[1]), PK_DISABLE_ACCESS);
}

static int reader_key;
static char *reader_page;
static int reader_stop, reader_faults, reader_reads;

static void read_once(void *arg)
{
	(void)*(volatile char *)arg;
}

static void *steady_reader(void *arg)
{
	struct pk_fault f;

	(void)arg;
	CHECK_EQ(pk_set(reader_key, 0), 0);
	while (!__atomic_load_n(&reader_stop, __ATOMIC_RELAXED)) {
		if (pk_try(read_once, reader_page, &f))
			__atomic_add_fetch(&reader_faults, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&reader_reads, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Keys move in and out of the hardware's keys (forced by using many more
 * keys than it has): a thread holding rights on one of them never faults
 * meanwhile, and the others stay enforced.
 */
void test_keys_move(void)
{
	enum { N = 40 };
	int keys[N];
	char *pages = pkt_map(N, RW);
	size_t pg = pkt_page();
	pthread_t t;

	reader_key = pkt_key(PK_DISABLE_ACCESS);
	reader_page = pkt_map(1, RW);
	CHECK_EQ(pk_mprotect(reader_page, pg, RW, reader_key), 0);
	for (int i = 0; i < N; i++) {
		keys[i] = pkt_key(PK_DISABLE_ACCESS);
		CHECK_EQ(pk_mprotect(pages + i * pg, pg, RW, keys[i]), 0);
	}
	CHECK_EQ(pthread_create(&t, NULL, steady_reader, NULL), 0);
	/* The moves below must overlap the reader's reads. */
	while (!__atomic_load_n(&reader_reads, __ATOMIC_RELAXED))
		sched_yield();
	for (int round = 0; round < 5; round++)
		for (int i = 0; i < N; i++) {
			CHECK_EQ(pk_set(keys[i], PK_DISABLE_WRITE), 0);
			EXPECT_OK(pages + i * pg, R);
			EXPECT_FAULT(pages + i * pg, W, keys[i]);
			CHECK_EQ(pk_set(keys[i], PK_DISABLE_ACCESS), 0);
		}
	__atomic_store_n(&reader_stop, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK(reader_reads > 0);
	CHECK_EQ(reader_faults, 0);
	if (pkt_per_thread())
		EXPECT_FAULT(reader_page, R, reader_key);
}

/*
 * A thread changes its rights for a key (on hardware: the lock-free path
 * of a resident key) while another thread's pk_set evicts that key
 * (more keys than the hardware has, 400 ranges each to make the move
 * slow).  Afterwards the key is evicted, enforced by page protections,
 * and they must follow the change: closing keeps it closed, opening
 * keeps it open.  (The move used to narrow the pages by the rights read
 * before the change.)
 */
enum { EV_RANGES = 400, EV_FILL = 14, EV_TRIALS = 8 };
static int ev_x, ev_y, ev_fill[EV_FILL];
static char *ev_xp, *ev_yp;
static pthread_barrier_t ev_bar;

static void *ev_thread(void *arg)
{
	(void)arg;
	for (int t = 0; t < EV_TRIALS; t++) {
		int v = t & 1 ? ev_y : ev_x;
		char *vp = t & 1 ? ev_yp : ev_xp;
		unsigned want = t & 2 ? 0 : PK_DISABLE_ACCESS;

		CHECK_EQ(pk_set(v, want ? 0 : PK_DISABLE_ACCESS), 0);
		pthread_barrier_wait(&ev_bar); /* the other makes v the LRU */
		pthread_barrier_wait(&ev_bar); /* and starts evicting it */
		usleep(300);
		CHECK_EQ(pk_set(v, want), 0);
		pthread_barrier_wait(&ev_bar); /* its pk_set returned */
		if (want)
			EXPECT_FAULT(vp, R, v);
		else
			EXPECT_OK(vp, R);
		pthread_barrier_wait(&ev_bar);
	}
	return NULL;
}

void test_evict_during_set(void)
{
	size_t pg = pkt_page();
	pthread_t t;

	ev_x = pkt_key(PK_DISABLE_ACCESS);
	for (int i = 0; i < EV_FILL; i++)
		ev_fill[i] = pkt_key(PK_DISABLE_ACCESS);
	ev_y = pkt_key(PK_DISABLE_ACCESS);
	ev_xp = pkt_map(2 * EV_RANGES, RW);
	ev_yp = pkt_map(2 * EV_RANGES, RW);
	for (int i = 0; i < EV_RANGES; i++) {
		CHECK_EQ(pk_mprotect(ev_xp + 2 * i * pg, pg, RW, ev_x), 0);
		CHECK_EQ(pk_mprotect(ev_yp + 2 * i * pg, pg, RW, ev_y), 0);
	}
	CHECK_EQ(pthread_barrier_init(&ev_bar, NULL, 2), 0);
	CHECK_EQ(pthread_create(&t, NULL, ev_thread, NULL), 0);
	for (int i = 0; i < EV_TRIALS; i++) {
		int in = i & 1 ? ev_x : ev_y; /* moves in, evicting the other */

		pthread_barrier_wait(&ev_bar);
		for (int f = 0; f < EV_FILL; f++)
			CHECK_EQ(pk_set(ev_fill[f], PK_DISABLE_ACCESS), 0);
		pthread_barrier_wait(&ev_bar);
		CHECK_EQ(pk_set(in, PK_DISABLE_ACCESS), 0);
		pthread_barrier_wait(&ev_bar);
		pthread_barrier_wait(&ev_bar);
	}
	CHECK_EQ(pthread_join(t, NULL), 0);
}

/*
 * pk_key_free racing with pk_domain_enter in another thread: either the
 * enter fails, or the free says EBUSY; a key is never freed while a
 * thread is inside a domain on it (the enter used to count itself only
 * after setting the rights).
 */
static int df_key, df_stop, df_inside_freed;

static void *df_enterer(void *arg)
{
	struct pk_domain_entry d;
	struct pk_domain_saved s;

	(void)arg;
	while (!__atomic_load_n(&df_stop, __ATOMIC_ACQUIRE)) {
		d = (struct pk_domain_entry){df_key, 0};
		if (pk_domain_enter(&d, 1, &s) != 0)
			continue;
		if (pk_get(df_key) == -EINVAL)
			__atomic_store_n(&df_inside_freed, 1, __ATOMIC_RELAXED);
		CHECK_EQ(pk_domain_leave(&s), 0);
	}
	return NULL;
}

void test_domain_free_race(void)
{
	time_t end = time(NULL) + 2;
	int trials = 0;

	while (time(NULL) < end && !df_inside_freed) {
		pthread_t t;

		df_key = pk_key_alloc(0, PK_DISABLE_ACCESS);
		CHECK(df_key > 0);
		__atomic_store_n(&df_stop, 0, __ATOMIC_RELEASE);
		CHECK_EQ(pthread_create(&t, NULL, df_enterer, NULL), 0);
		for (int rc; (rc = pk_key_free(df_key)) != 0;)
			CHECK_EQ(rc, -EBUSY);
		__atomic_store_n(&df_stop, 1, __ATOMIC_RELEASE);
		CHECK_EQ(pthread_join(t, NULL), 0);
		trials++;
	}
	if (df_inside_freed)
		pkt_fail(__FILE__, __LINE__,
			 "trial %d: a key was freed under a domain", trials);
}

/* A domain naming a key twice counts twice toward the 255 limit. */
void test_domain_duplicate_key(void)
{
	static struct pk_domain_saved s[256];
	int k = pkt_key(0), i;
	struct pk_domain_entry one = {k, 0};
	struct pk_domain_entry two[2] = {{k, PK_DISABLE_WRITE},
					 {k, PK_DISABLE_WRITE}};

	for (i = 0; i < 254; i++)
		CHECK_EQ(pk_domain_enter(&one, 1, &s[i]), 0);
	CHECK_EQ(pk_domain_enter(two, 2, &s[254]), -EBUSY);
	CHECK_EQ(pk_get(k), 0);
	CHECK_EQ(pk_domain_enter(&one, 1, &s[254]), 0);
	CHECK_EQ(pk_domain_enter(&one, 1, &s[255]), -EBUSY);
	for (i = 254; i >= 0; i--)
		CHECK_EQ(pk_domain_leave(&s[i]), 0);
	CHECK_EQ(pk_key_free(k), 0);
	/* Below the limit a key named twice nests twice. */
	k = pkt_key(0);
	two[0].key = two[1].key = k;
	CHECK_EQ(pk_domain_enter(two, 2, &s[0]), 0);
	CHECK_EQ(pk_get(k), PK_DISABLE_WRITE);
	CHECK_EQ(pk_key_free(k), -EBUSY);
	CHECK_EQ(pk_domain_leave(&s[0]), 0);
	CHECK_EQ(pk_get(k), 0);
	CHECK_EQ(pk_key_free(k), 0);
}

/*
 * A pk_key_free that fails (EBUSY: a domain holds the key) never makes a
 * domain entry on the still allocated key fail in another thread.
 */
static int bf_key, bf_stop;

static void *bf_freer(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&bf_stop, __ATOMIC_ACQUIRE))
		CHECK_EQ(pk_key_free(bf_key), -EBUSY);
	return NULL;
}

void test_domain_enter_while_free_fails(void)
{
	struct pk_domain_entry d = {0, 0};
	struct pk_domain_saved held, s;
	time_t end;
	pthread_t t;

	bf_key = pkt_key(0);
	d.key = bf_key;
	CHECK_EQ(pk_domain_enter(&d, 1, &held), 0);
	CHECK_EQ(pthread_create(&t, NULL, bf_freer, NULL), 0);
	end = time(NULL) + 1;
	while (time(NULL) <= end) {
		for (int i = 0; i < 1000; i++) {
			CHECK_EQ(pk_domain_enter(&d, 1, &s), 0);
			CHECK_EQ(pk_domain_leave(&s), 0);
		}
	}
	__atomic_store_n(&bf_stop, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pk_domain_leave(&held), 0);
	CHECK_EQ(pk_key_free(bf_key), 0);
}
