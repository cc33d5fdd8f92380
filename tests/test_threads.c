/* SPDX-License-Identifier: MIT */
/* Rights are per thread; new threads inherit them; fork keeps them. */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pktest.h"

static char *page;
static int key;
static pthread_barrier_t step;

static void run_thread(void *(*fn)(void *))
{
	pthread_t t;

	CHECK_EQ(pthread_create(&t, NULL, fn, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
}

static void *holder(void *arg)
{
	(void)arg;
	/* Created while main had full rights: it keeps them. */
	pthread_barrier_wait(&step); /* main closes its own rights */
	pthread_barrier_wait(&step);
	CHECK_EQ(pk_get(key), 0);
	EXPECT_OK(page, W);
	page[1] = 't';
	pthread_barrier_wait(&step); /* main checks its view */
	pthread_barrier_wait(&step);
	return NULL;
}

void test_thread_rights_independent(void)
{
	pthread_t t;

	page = pkt_map(1, PROT_READ | PROT_WRITE);
	key = pkt_key(0);
	CHECK_EQ(pk_mprotect(page, pkt_page(), PROT_READ | PROT_WRITE, key), 0);
	CHECK_EQ(pthread_barrier_init(&step, NULL, 2), 0);
	CHECK_EQ(pthread_create(&t, NULL, holder, NULL), 0);
	pthread_barrier_wait(&step);
	CHECK_EQ(pk_set(key, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_get(key), PK_DISABLE_ACCESS);
	pthread_barrier_wait(&step);
	pthread_barrier_wait(&step);
	CHECK_EQ(pk_get(key), PK_DISABLE_ACCESS);
	pthread_barrier_wait(&step);
	CHECK_EQ(pthread_join(t, NULL), 0);
	/* With the holder gone nobody holds rights: the page is closed. */
	EXPECT_FAULT(page, R, key);
	CHECK_EQ(pk_set(key, 0), 0);
	CHECK_EQ(page[1], 't');
}

static void *inheritor(void *arg)
{
	(void)arg;
	CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
	EXPECT_OK(page, R);
	EXPECT_FAULT(page + 5, W, key);
	/* Its own change does not reach its creator. */
	CHECK_EQ(pk_set(key, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(pk_get(key), PK_DISABLE_ACCESS);
	if (pkt_per_thread())
		EXPECT_FAULT(page, R, key);
	else /* emulation: the page stays readable while main may read it */
		EXPECT_OK(page, R);
	return NULL;
}

void test_thread_inherits(void)
{
	page = pkt_map(1, PROT_READ | PROT_WRITE);
	key = pkt_key(0);
	CHECK_EQ(pk_mprotect(page, pkt_page(), PROT_READ | PROT_WRITE, key), 0);
	CHECK_EQ(pk_set(key, PK_DISABLE_WRITE), 0);
	run_thread(inheritor);
	CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
	EXPECT_OK(page, R);
}

static void *closed(void *arg)
{
	(void)arg;
	CHECK_EQ(pk_get(key), PK_DISABLE_ACCESS);
	EXPECT_FAULT(page, R, key);
	EXPECT_FAULT(page, W, key);
	CHECK_EQ(pk_set(key, 0), 0);
	page[0] = 'c';
	CHECK_EQ(pk_set(key, PK_DISABLE_ACCESS), 0);
	return NULL;
}

void test_thread_stopped_without_holder(void)
{
	page = pkt_map(1, PROT_READ | PROT_WRITE);
	key = pkt_key(PK_DISABLE_ACCESS);
	CHECK_EQ(pk_mprotect(page, pkt_page(), PROT_READ | PROT_WRITE, key), 0);
	run_thread(closed);
	EXPECT_FAULT(page, R, key);
	CHECK_EQ(pk_set(key, 0), 0);
	CHECK_EQ(page[0], 'c');
}

static void *early(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&step); /* main allocates the key */
	pthread_barrier_wait(&step);
	/* A thread that existed before the key has its initial rights. */
	CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
	EXPECT_OK(page, R);
	EXPECT_FAULT(page, W, key);
	return NULL;
}

void test_thread_existing_default(void)
{
	pthread_t t;

	CHECK_EQ(pthread_barrier_init(&step, NULL, 2), 0);
	CHECK_EQ(pthread_create(&t, NULL, early, NULL), 0);
	pthread_barrier_wait(&step);
	key = pk_key_alloc(0, PK_DISABLE_WRITE);
	CHECK(key > 0);
	page = pkt_map(1, PROT_READ | PROT_WRITE);
	CHECK_EQ(pk_mprotect(page, pkt_page(), PROT_READ | PROT_WRITE, key), 0);
	CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
	pthread_barrier_wait(&step);
	CHECK_EQ(pthread_join(t, NULL), 0);
}

void test_fork_keeps(void)
{
	int status;
	pid_t pid;

	page = pkt_map(1, PROT_READ | PROT_WRITE);
	page[0] = 'p';
	key = pkt_key(0);
	CHECK_EQ(pk_mprotect(page, pkt_page(), PROT_READ | PROT_WRITE, key), 0);
	CHECK_EQ(pk_set(key, PK_DISABLE_WRITE), 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
		EXPECT_OK(page, R);
		EXPECT_FAULT(page, W, key);
		CHECK_EQ(pk_set(key, 0), 0);
		page[0] = 'c';
		CHECK_EQ(pk_set(key, PK_DISABLE_ACCESS), 0);
		EXPECT_FAULT(page, R, key);
		_exit(0);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK_EQ(pk_get(key), PK_DISABLE_WRITE);
	CHECK_EQ(page[0], 'p');
	EXPECT_FAULT(page, W, key);
}

/*
 * A thread created while every thread's rights are being changed
 * (pk_set_all on another key, which on hardware signals every thread)
 * starts with its creator's rights, not the initial ones: the change
 * used to reach it before it knew its own record.
 */
static int start_key;
static char *start_page;
static int start_bad;

/* For pk_try: read the byte at arg. */
static void read_byte(void *arg)
{
	(void)*(volatile char *)arg;
}

static void *check_start(void *arg)
{
	struct pk_fault f;

	(void)arg;
	if (pk_get(start_key) != 0 || pk_try(read_byte, start_page, &f) != 0)
		__atomic_add_fetch(&start_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

void test_thread_start_during_set_all(void)
{
	int other = pkt_key(0);

	start_key = pkt_key(0); /* initial rights closed, the creator's open */
	start_page = pkt_map(1, PROT_READ | PROT_WRITE);
	CHECK_EQ(pk_mprotect(start_page, pkt_page(), PROT_READ, start_key), 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	/* Every other thread with a signal mask on its attribute: glibc
	 * starts those with that mask, not their creator's. */
	pthread_attr_t with_mask;
	sigset_t usr1;

	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	CHECK_EQ(pthread_attr_init(&with_mask), 0);
	CHECK_EQ(pthread_attr_setsigmask_np(&with_mask, &usr1), 0);
#define START_ATTR(i) ((i) & 2 ? &with_mask : NULL)
#else
#define START_ATTR(i) NULL
#endif
	for (int i = 0; i < 150; i++) {
		pthread_t t;
		CHECK_EQ(pthread_create(&t, START_ATTR(i), check_start, NULL), 0);
		CHECK_EQ(pk_set_all(other, i & 1 ? PK_DISABLE_WRITE : 0), 0);
		CHECK_EQ(pthread_join(t, NULL), 0);
	}
	CHECK_EQ(start_bad, 0);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	/* The attribute is the program's again, as it set it. */
	sigset_t now;
	CHECK_EQ(pthread_attr_getsigmask_np(&with_mask, &now), 0);
	for (int sig = 1; sig < NSIG; sig++)
		CHECK_EQ(sigismember(&now, sig), sig == SIGUSR1);
	pthread_attr_destroy(&with_mask);
#endif
}

/*
 * A thread with a deferred cancel pending calls the library: the work
 * under its lock reaches cancellation points (close, nanosleep), where
 * the thread used to unwind with the lock held and hang every later
 * call.  The lock turns cancellation off; the thread goes on.
 */
static char *cancel_page;
static int cancel_key, cancel_how;

static void *cancelled_caller(void *arg)
{
	(void)arg;
	pthread_cancel(pthread_self());
	if (cancel_how == 0)
		pk_mprotect(cancel_page, pkt_page(), PROT_READ | PROT_WRITE,
			    cancel_key);
	else if (cancel_how == 1)
		pk_key_free(pk_key_alloc(0, 0));
	else
		mprotect(cancel_page, pkt_page(), PROT_READ);
	pthread_testcancel();
	return NULL;
}

void test_thread_cancel_in_call(void)
{
	cancel_page = pkt_map(1, PROT_READ | PROT_WRITE);
	cancel_key = pkt_key(0);
	CHECK_EQ(pk_mprotect(cancel_page, pkt_page(), PROT_READ | PROT_WRITE,
			     cancel_key),
		 0);
	for (cancel_how = 0; cancel_how < 3; cancel_how++) {
		struct timespec until;
		pthread_t t;
		void *ret;

		CHECK_EQ(pthread_create(&t, NULL, cancelled_caller, NULL), 0);
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 3;
		if (pthread_timedjoin_np(t, &ret, &until))
			pkt_fail(__FILE__, __LINE__,
				 "case %d: the cancelled thread hangs", cancel_how);
		CHECK(ret == PTHREAD_CANCELED);
		CHECK(pk_keys_available() > 0);
	}
}

/*
 * Threads the library never saw (created with libc's own pthread_create,
 * as a static program without --wrap would) hold the initial rights, and
 * the emulation counts them in the union.  A second such thread making
 * its first call used to be taken for the first one, which then lost
 * its rights to its own key's pages.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
void test_thread_unknown_counted(void)
{
	pkt_skip("sanitizers cannot follow threads created behind their "
		 "pthread_create");
}

void test_thread_record_left_behind(void)
{
	pkt_skip("sanitizers cannot follow threads created behind their "
		 "pthread_create");
}
#else
typedef int (*create_fn)(pthread_t *, const pthread_attr_t *,
			 void *(*)(void *), void *);
static int unk_key, unk_step, unk_ok;
static char *unk_page;

static void *unk_first(void *arg)
{
	struct pk_fault f;

	(void)arg;
	while (!__atomic_load_n(&unk_step, __ATOMIC_ACQUIRE))
		usleep(1000);
	unk_ok = pk_try(read_byte, unk_page, &f) == 0;
	return NULL;
}

static void *unk_second(void *arg)
{
	(void)arg;
	pk_set(unk_key, PK_DISABLE_ACCESS); /* its first call */
	return NULL;
}

/*
 * libc's own pthread_create (threads the library never sees), with
 * unk_key guarding unk_page, closed for now.
 */
static create_fn unknown_setup(void **libc)
{
	create_fn create;

	*libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
	CHECK(*libc != NULL);
	create = (create_fn)dlsym(*libc, "pthread_create");
	CHECK(create != NULL);
	unk_key = pkt_key(PK_DISABLE_ACCESS);
	unk_page = pkt_map(1, PROT_READ | PROT_WRITE);
	CHECK_EQ(pk_mprotect(unk_page, pkt_page(), PROT_READ, unk_key), 0);
	return create;
}

void test_thread_unknown_counted(void)
{
	void *libc;
	create_fn create = unknown_setup(&libc);
	pthread_t t1, t2;

	CHECK_EQ(create(&t1, NULL, unk_first, NULL), 0);
	/* Every thread, the unknown one too, gets rights 0. */
	CHECK_EQ(pk_set_all(unk_key, 0), 0);
	CHECK_EQ(pk_set(unk_key, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(create(&t2, NULL, unk_second, NULL), 0);
	CHECK_EQ(pthread_join(t2, NULL), 0);
	__atomic_store_n(&unk_step, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t1, NULL), 0);
	CHECK(unk_ok);
	dlclose(libc);
}

/*
 * A thread that ends without its exit handlers (a raw exit system
 * call) leaves its record behind; with one unknown thread besides, the
 * library's records and the kernel's count of threads agree in number
 * but not in who: pk_set_all must still reach the unknown thread.
 */
static int tasks_now(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	CHECK(d != NULL);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void *raw_exit(void *arg)
{
	(void)arg;
	pk_set(unk_key, PK_DISABLE_ACCESS); /* it has a record */
	syscall(SYS_exit, 0);
	return NULL;
}

void test_thread_record_left_behind(void)
{
	void *libc;
	create_fn create = unknown_setup(&libc);
	pthread_attr_t attr;
	pthread_t gone, t1;

	/* Detached: a thread that skips its C library's exit cannot be
	 * joined everywhere (musl waits for a state only that exit sets). */
	CHECK_EQ(pthread_attr_init(&attr), 0);
	CHECK_EQ(pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED), 0);
	CHECK_EQ(pthread_create(&gone, &attr, raw_exit, NULL), 0);
	CHECK_EQ(pthread_attr_destroy(&attr), 0);
	for (int i = 0; i < 2000 && tasks_now() != 1; i++)
		usleep(1000);
	CHECK_EQ(tasks_now(), 1);
	CHECK_EQ(create(&t1, NULL, unk_first, NULL), 0);
	CHECK_EQ(pk_set_all(unk_key, 0), 0);
	CHECK_EQ(pk_set(unk_key, PK_DISABLE_ACCESS), 0);
	__atomic_store_n(&unk_step, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t1, NULL), 0);
	CHECK(unk_ok);
	dlclose(libc);
}
#endif

/*
 * Threads glibc starts itself (the SIGEV_THREAD timer helper, and the
 * thread it starts for each expiry) never pass through the library's
 * pthread_create.  Started after pk_set_all opened a key for every
 * thread, they hold it open (on hardware the helper inherits the
 * register, the expiry thread the helper's), and it stays open for them
 * when the main thread then closes it for itself.  glibc runs them with SIGSEGV blocked: the access is a
 * write(2) from the page, which fails with EFAULT when denied.
 */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
void test_thread_sigev_helper(void)
{
	pkt_skip("sanitizers cannot follow threads created behind their "
		 "pthread_create");
}
#else
static char *sigev_page;
static int sigev_fd, sigev_done, sigev_result;

static void sigev_fire(union sigval v)
{
	(void)v;
	sigev_result = (int)write(sigev_fd, sigev_page, 1) == 1 ? 0 : errno;
	__atomic_store_n(&sigev_done, 1, __ATOMIC_RELEASE);
}

void test_thread_sigev_helper(void)
{
	/* The helper's write(2) into the page, by the kernel, while the main
	 * thread keeps it closed: EFAULT in the exact mode (README). */
	if (pkt_exact_mode())
		pkt_skip("a kernel access for a thread that holds rights while "
			 "another lacks them fails in the exact mode");
	int k = pkt_key(PK_DISABLE_ACCESS), fds[2];
	struct sigevent ev = {.sigev_notify = SIGEV_THREAD,
			      .sigev_notify_function = sigev_fire};
	struct itimerspec when = {.it_value = {0, 1000000}};
	timer_t timer;
	char c;

	sigev_page = pkt_map(1, PROT_READ | PROT_WRITE);
	sigev_page[0] = 'x';
	CHECK_EQ(pipe(fds), 0);
	sigev_fd = fds[1];
	CHECK_EQ(pk_protect_range(sigev_page, pkt_page(), k, 0), 0);
	CHECK_EQ(pk_set_all(k, 0), 0);
	/*
	 * The helper thread starts here, unknown to the library, with the
	 * main thread's rights (hardware: its register).  It blocks every
	 * signal for good, so a pk_set_all after this point could not
	 * reach it on hardware (EAGAIN).
	 */
	CHECK_EQ(timer_create(CLOCK_MONOTONIC, &ev, &timer), 0);
	CHECK_EQ(pk_set(k, PK_DISABLE_ACCESS), 0);
	CHECK_EQ(timer_settime(timer, 0, &when, NULL), 0);
	for (int i = 0; i < 5000 && !__atomic_load_n(&sigev_done,
						      __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	CHECK(__atomic_load_n(&sigev_done, __ATOMIC_ACQUIRE));
	CHECK_EQ(sigev_result, 0);
	CHECK_EQ(read(fds[0], &c, 1), 1);
	CHECK_EQ(c, 'x');
	/* The main thread stays closed (on the emulation its pages stay
	 * open while other threads hold the rights). */
	CHECK_EQ(pk_get(k), PK_DISABLE_ACCESS);
	if (pkt_per_thread())
		EXPECT_FAULT(sigev_page, R, k);
	CHECK_EQ(timer_delete(timer), 0);
}
#endif

/*
 * A thread created just before a count of the threads (pk_key_alloc
 * counts them) has a record but has not run yet; it used to be counted
 * both as known and as unknown, and the extra unknown thread kept a key
 * allocated open open for everyone after every thread closed it.
 */
static int twice_key, twice_go;

static void *twice_child(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&twice_go, __ATOMIC_ACQUIRE))
		usleep(100);
	CHECK_EQ(pk_set(twice_key, PK_DISABLE_ACCESS), 0);
	return NULL;
}

void test_thread_not_counted_twice(void)
{
#if defined(__SANITIZE_THREAD__)
	pkt_skip("ThreadSanitizer's own thread is unknown to the library and "
		 "holds the initial rights");
#endif
	for (int i = 0; i < 50; i++) {
		struct pk_fault f;
		char *mem = NULL;
		pthread_t t;

		__atomic_store_n(&twice_go, 0, __ATOMIC_RELEASE);
		CHECK_EQ(pthread_create(&t, NULL, twice_child, NULL), 0);
		twice_key = pk_key_alloc(0, 0); /* open for every thread */
		CHECK(twice_key > 0);
		CHECK_EQ(pk_mmap((void **)&mem, pkt_page(),
				 PROT_READ | PROT_WRITE, MAP_PRIVATE, twice_key),
			 0);
		CHECK_EQ(pk_set(twice_key, PK_DISABLE_ACCESS), 0);
		__atomic_store_n(&twice_go, 1, __ATOMIC_RELEASE);
		CHECK_EQ(pthread_join(t, NULL), 0);
		/* Both threads closed it, one is left: exact again. */
		if (pk_try(read_byte, mem, &f) != -EFAULT)
			pkt_fail(__FILE__, __LINE__,
				 "round %d: closed in every thread, still open", i);
		CHECK_EQ(pk_munmap(mem, pkt_page()), 0);
		CHECK_EQ(pk_key_free(twice_key), 0);
	}
}

/* A signal mask set on the attribute (glibc 2.32) is the new thread's. */
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
static void *report_mask(void *arg)
{
	sigset_t now;

	pthread_sigmask(SIG_SETMASK, NULL, &now);
	*(int *)arg = sigismember(&now, SIGUSR1);
	return NULL;
}
#endif

void test_thread_attr_sigmask(void)
{
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
	pthread_attr_t attr;
	sigset_t block;
	pthread_t t;
	int blocked = -1;

	(void)pkt_key(0); /* the library is initialised */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	CHECK_EQ(pthread_attr_init(&attr), 0);
	CHECK_EQ(pthread_attr_setsigmask_np(&attr, &block), 0);
	CHECK_EQ(pthread_create(&t, &attr, report_mask, &blocked), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(blocked, 1);
	pthread_attr_destroy(&attr);
#else
	pkt_skip("pthread_attr_setsigmask_np needs glibc 2.32");
#endif
}

/*
 * Thread-specific data destructors run at thread exit, in rounds; the
 * thread keeps its rights through them (the library's own destructor
 * used to drop its record in the first round, before the program's).
 */
static pthread_key_t dtor_key;
static int dtor_rights = -1, dtor_read = -1, dtor_kkey;
static char *dtor_page;

static void program_dtor(void *value)
{
	struct pk_fault f;

	(void)value;
	dtor_rights = pk_get(dtor_kkey);
	dtor_read = pk_try(read_byte, dtor_page, &f);
}

static void *opens_and_exits(void *arg)
{
	CHECK_EQ(pk_set(dtor_kkey, 0), 0);
	if (arg)
		pthread_setspecific(dtor_key, (void *)1);
	return NULL;
}

/*
 * pthread_create storing the new thread's id where the caller may not
 * write: the fault reaches the caller's handler (here pk_try) exactly,
 * outside the library's lock, so the thread runs and the library keeps
 * working (threads, keys) afterwards.
 */
static int bad_id_ran;

static void *bad_id_thread(void *arg)
{
	(void)arg;
	__atomic_store_n(&bad_id_ran, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void create_into(void *slot)
{
	pthread_create(slot, NULL, bad_id_thread, NULL);
}

void test_thread_id_unwritable(void)
{
#if defined(__SANITIZE_THREAD__)
	/* The fault is in ThreadSanitizer's pthread_create, which stores
	 * the id itself; jumping out of it breaks the sanitizer's state. */
	pkt_skip("ThreadSanitizer's pthread_create cannot be left by pk_try");
#endif
	int k = pkt_key(PK_DISABLE_ACCESS);
	char *slotpage = pkt_map(1, PROT_READ | PROT_WRITE);
	struct pk_fault f;
	pthread_t t;

	CHECK_EQ(pk_protect_range(slotpage, pkt_page(), k, 0), 0);
	CHECK_EQ(pk_try(create_into, slotpage + 128, &f), -EFAULT);
	CHECK(f.addr == slotpage + 128);
	CHECK_EQ(f.key, k);
	CHECK_EQ(f.access, PK_ACCESS_WRITE);
	for (int i = 0; i < 2000 && !__atomic_load_n(&bad_id_ran,
						      __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	CHECK(__atomic_load_n(&bad_id_ran, __ATOMIC_ACQUIRE));
	/* Every lock-taking path still works. */
	CHECK_EQ(pthread_create(&t, NULL, bad_id_thread, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pk_key_free(pkt_key(0)), 0);
	CHECK_EQ(pk_set_all(k, 0), 0);
	EXPECT_OK(slotpage, W);
}

void test_thread_exit_destructor_rights(void)
{
	pthread_t t;

	dtor_kkey = pkt_key(PK_DISABLE_ACCESS);
	dtor_page = pkt_map(1, PROT_READ | PROT_WRITE);
	CHECK_EQ(pk_mprotect(dtor_page, pkt_page(), PROT_READ, dtor_kkey), 0);
	/* A thread first, so that the library's key exists before ours. */
	CHECK_EQ(pthread_create(&t, NULL, opens_and_exits, NULL), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(pthread_key_create(&dtor_key, program_dtor), 0);
	CHECK_EQ(pthread_create(&t, NULL, opens_and_exits, &dtor_key), 0);
	CHECK_EQ(pthread_join(t, NULL), 0);
	CHECK_EQ(dtor_rights, 0);
	CHECK_EQ(dtor_read, 0);
}

/*
 * pk_set_all while a thread blocks every signal: on hardware the thread
 * cannot rebuild its PKRU, so the call fails with EAGAIN after about a
 * second (by the clock) and no thread's rights change; the emulation
 * changes the records and needs no signal.
 */
static int blk_ready, blk_stop, blk_key, blk_rights = -1;

static void *blocks_all(void *arg)
{
	sigset_t all;

	(void)arg;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	__atomic_store_n(&blk_ready, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&blk_stop, __ATOMIC_ACQUIRE))
		usleep(1000);
	all = (sigset_t){0};
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	blk_rights = pk_get(blk_key);
	return NULL;
}

void test_set_all_blocked_thread(void)
{
	struct timespec a, b;
	pthread_t t;
	double secs;
	int rc;

	blk_key = pkt_key(0);
	CHECK_EQ(pthread_create(&t, NULL, blocks_all, NULL), 0);
	while (!__atomic_load_n(&blk_ready, __ATOMIC_ACQUIRE))
		usleep(1000);
	clock_gettime(CLOCK_MONOTONIC, &a);
	rc = pk_set_all(blk_key, PK_DISABLE_ACCESS);
	clock_gettime(CLOCK_MONOTONIC, &b);
	secs = (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
	__atomic_store_n(&blk_stop, 1, __ATOMIC_RELEASE);
	CHECK_EQ(pthread_join(t, NULL), 0);
	if (pkt_exact()) {
		CHECK_EQ(rc, -EAGAIN);
		if (secs < 0.9 || secs > 6)
			pkt_fail(__FILE__, __LINE__, "gave up after %.2f s", secs);
		CHECK_EQ(pk_get(blk_key), 0);
		CHECK_EQ(blk_rights, 0);
	} else {
		CHECK_EQ(rc, 0);
		CHECK_EQ(pk_get(blk_key), PK_DISABLE_ACCESS);
		CHECK_EQ(blk_rights, PK_DISABLE_ACCESS);
	}
}

/*
 * Rights set while other threads move keys in and out of hardware keys:
 * each thread's view stays what it set, for every key.  More keys than
 * the hardware has, so that B's calls keep evicting; A sets random
 * rights on its own keys (one by one and as a domain) and checks, after
 * each call, pk_get of every key and an access to one of its keys'
 * pages.  A write of A's rights to a hardware key that moved to another
 * key meanwhile would show as a wrong pk_get (x86) or access (POWER).
 */
#define RW (PROT_READ | PROT_WRITE)
enum { MV_A = 6, MV_B = 34, MV_KEYS = MV_A + MV_B };
static int mv_keys[MV_KEYS];
static char *mv_pages;
static int mv_done;

static void *mv_mover(void *arg)
{
	long *moves = arg;

	/* B's rights for A's keys stay closed: A's alone open its pages. */
	for (int i = 0; !__atomic_load_n(&mv_done, __ATOMIC_RELAXED); i++) {
		CHECK_EQ(pk_set(mv_keys[MV_A + i % MV_B], 0), 0);
		__atomic_add_fetch(moves, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void mv_read(void *p)
{
	(void)*(volatile char *)p;
}

static void mv_write(void *p)
{
	*(volatile char *)p = 1;
}

/*
 * 1 when the access faults.  pk_try, not pkt_access: its recovery
 * rebuilds the whole rights register from the thread's record, where
 * leaving a handler by siglongjmp keeps the kernel's handler rights for
 * keys that move in meanwhile.  An access expected to fault is tried
 * again where a stale TLB entry may let a lowered right through once
 * (pkt_tlb_flush).
 */
static int mv_faults(char *p, int write, int expect)
{
	struct pk_fault f;

	for (int i = 0; i < (expect ? 4 : 1); i++) {
		pkt_tlb_flush();
		if (pk_try(write ? mv_write : mv_read, p, &f) == -EFAULT)
			return 1;
	}
	return 0;
}

static void mv_check(const unsigned *want, long iter)
{
	for (int i = 0; i < MV_KEYS; i++)
		if ((unsigned)pk_get(mv_keys[i]) != want[i])
			pkt_fail(__FILE__, __LINE__,
				 "after %ld calls key %d reads %d, set %u",
				 iter, mv_keys[i], pk_get(mv_keys[i]),
				 want[i]);
}

void test_set_during_moves(void)
{
	static const unsigned choice[] = {0, PK_DISABLE_WRITE,
					  PK_DISABLE_ACCESS};
	unsigned want[MV_KEYS];
	size_t pg = pkt_page();
	pthread_t b;
	long moves = 0, iter = 0;
	time_t end;

	srand(7);
	mv_pages = pkt_map(MV_A, RW);
	for (int i = 0; i < MV_KEYS; i++) {
		want[i] = i < MV_A ? PK_DISABLE_ACCESS : 0;
		mv_keys[i] = pkt_key(want[i]);
	}
	for (int i = 0; i < MV_A; i++)
		CHECK_EQ(pk_mprotect(mv_pages + i * pg, pg, RW, mv_keys[i]), 0);
	CHECK_EQ(pthread_create(&b, NULL, mv_mover, &moves), 0);
	end = time(NULL) + 2;
	for (; time(NULL) < end ||
	       __atomic_load_n(&moves, __ATOMIC_RELAXED) < 100;
	     iter++) {
		int i = rand() % MV_A, j = rand() % MV_A, acc = rand() & 1;
		unsigned r = choice[rand() % 3], s = choice[rand() % 3];
		int faults;

		if (iter & 1) {
			CHECK_EQ(pk_set(mv_keys[i], r), 0);
			want[i] = r;
		} else if (i != j) {
			struct pk_domain_entry d[2] = {{mv_keys[i], r},
						       {mv_keys[j], s}};
			struct pk_domain_saved sv;

			unsigned was_i = want[i], was_j = want[j];

			CHECK_EQ(pk_domain_enter(d, 2, &sv), 0);
			want[i] = r;
			want[j] = s;
			mv_check(want, iter);
			CHECK_EQ(pk_domain_leave(&sv), 0);
			want[i] = was_i;
			want[j] = was_j;
		}
		mv_check(want, iter);
		if (iter % 4)
			continue; /* accesses are slow: rights calls race more */
		faults = acc ? want[j] != 0 : want[j] == PK_DISABLE_ACCESS;
		if (mv_faults(mv_pages + j * pg, acc, faults) != faults)
			pkt_fail(__FILE__, __LINE__,
				 "after %ld calls, %s key %d's page with "
				 "rights %u %s",
				 iter, acc ? "writing" : "reading", mv_keys[j],
				 want[j], faults ? "went through" : "faulted");
	}
	__atomic_store_n(&mv_done, 1, __ATOMIC_RELAXED);
	CHECK_EQ(pthread_join(b, NULL), 0);
	CHECK(moves > 0);
}

/*
 * A process whose main thread has called pthread_exit: the kernel keeps
 * the main thread's task, a zombie, listed while the others run.  It
 * never answers a signal; key allocation and pk_set_all in the other
 * thread must neither wait for it nor fail.  In a child process, which
 * reports through its exit status: 0, or the step that failed.
 */
static int zombie_key;

/* Whether the process's main thread is a zombie (its stat says Z). */
static int zombie_main_gone(void)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)getpid());
	f = fopen(path, "r");
	if (!f)
		return 1;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' && p[2] == 'Z';
}

static void *zombie_worker(void *arg)
{
	struct timespec t0, t1;
	int k, status = 0;

	(void)arg;
	for (int i = 0; i < 2000 && !zombie_main_gone(); i++)
		usleep(1000);
	if (!zombie_main_gone())
		_exit(1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	k = pk_key_alloc(0, 0);
	if (k <= 0)
		status = 2;
	else if (pk_set_all(zombie_key, 0) != 0 ||
		 pk_set_all(k, PK_DISABLE_WRITE) != 0)
		status = 3;
	else if (pk_get(k) != PK_DISABLE_WRITE || pk_get(zombie_key) != 0)
		status = 4;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* A round that waited for the zombie takes a second.  Whole
	 * nanoseconds: the seconds alone differ by one for any two
	 * readings that straddle a second's boundary. */
	if (!status && (t1.tv_sec - t0.tv_sec) * 1000000000ll +
			       (t1.tv_nsec - t0.tv_nsec) >= 1000000000ll)
		status = 5;
	_exit(status);
}

void test_thread_main_exited(void)
{
	pid_t pid;
	int status;

	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		pthread_t t;

		zombie_key = pk_key_alloc(0, PK_DISABLE_ACCESS);
		if (zombie_key <= 0 ||
		    pthread_create(&t, NULL, zombie_worker, NULL))
			_exit(6);
		pthread_exit(NULL);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	CHECK(WIFEXITED(status));
	if (WEXITSTATUS(status))
		pkt_fail(__FILE__, __LINE__,
			 "after the main thread's pthread_exit: step %d failed "
			 "(1: no zombie, 2: alloc, 3: pk_set_all, 4: rights, "
			 "5: a second's wait)",
			 WEXITSTATUS(status));
}
