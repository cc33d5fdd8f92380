/* Rights are per thread; new threads inherit them; fork keeps them. */
#include <pthread.h>
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
	if (pkt_exact())
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

static void read_start_page(void *arg)
{
	(void)arg;
	(void)*(volatile char *)start_page;
}

static void *check_start(void *arg)
{
	struct pk_fault f;

	(void)arg;
	if (pk_get(start_key) != 0 || pk_try(read_start_page, NULL, &f) != 0)
		__atomic_add_fetch(&start_bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

void test_thread_start_during_set_all(void)
{
	int other = pkt_key(0);

	start_key = pkt_key(0); /* initial rights closed, the creator's open */
	start_page = pkt_map(1, PROT_READ | PROT_WRITE);
	CHECK_EQ(pk_mprotect(start_page, pkt_page(), PROT_READ, start_key), 0);
	for (int i = 0; i < 150; i++) {
		pthread_t t;
		CHECK_EQ(pthread_create(&t, NULL, check_start, NULL), 0);
		CHECK_EQ(pk_set_all(other, i & 1 ? PK_DISABLE_WRITE : 0), 0);
		CHECK_EQ(pthread_join(t, NULL), 0);
	}
	CHECK_EQ(start_bad, 0);
}
