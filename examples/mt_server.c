/* SPDX-License-Identifier: MIT */
/*
 * mt_server: a multi-threaded server whose workers touch session
 * secrets only inside a per-request window, and whose configuration
 * only the reloading thread may write.
 *
 *   sessions  key closed in every thread (the key's initial rights);
 *             a worker opens it for reading around the one request it
 *             serves, for its own thread only;
 *   config    key read-only in every thread; the reload opens it for
 *             writing in its own thread, then closes it again.
 *
 * Threads start with the keys' initial rights, so workers created at
 * any time are closed without doing anything.  pk_set_all closes a key
 * in every thread at once (here: at shutdown, whatever a worker left
 * open).  A worker bug that reads a session outside its window, or
 * writes the configuration, is stopped and reported (pk_try), and the
 * worker goes on.
 *
 * Rights are per thread on key hardware: a worker outside its window
 * cannot read sessions while another worker is inside its own.  The
 * emulation combines the rights of all threads per key (a key's pages
 * are open while any thread has them open), so the program makes its
 * buggy accesses while the other workers wait at a barrier: then it
 * behaves the same on both backends.  Exits 0 when every check holds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include <pkeys.h>

#define WORKERS 4
#define SESSIONS 64
#define REQUESTS 2000

static int sess_key, cfg_key;
static char (*sessions)[32];	/* under sess_key */
static struct config {
	unsigned version;
	unsigned salt;
} *cfg;				/* under cfg_key */
static pthread_barrier_t bar;
static unsigned long served[WORKERS];
static int faults_seen;

/* The request: a checksum over the session's secret and the config. */
static unsigned long serve(int session)
{
	unsigned long sum = cfg->salt;

	pk_set(sess_key, PK_DISABLE_WRITE);	/* window: read sessions */
	for (const char *p = sessions[session]; *p; p++)
		sum = sum * 31 + (unsigned char)*p;
	pk_set(sess_key, PK_DISABLE_ACCESS);	/* closed again */
	return sum;
}

static void bug_read_session(void *arg)
{
	volatile char c = sessions[*(int *)arg][0];
	(void)c;
}

static void bug_write_config(void *arg)
{
	(void)arg;
	cfg->salt = 0;
}

static void *worker(void *arg)
{
	int id = (int)(long)arg, s = id;
	struct pk_fault f;

	/* Phase 1: requests, all workers at once. */
	for (int i = id; i < REQUESTS; i += WORKERS)
		served[id] += serve(i % SESSIONS) != 0;
	pthread_barrier_wait(&bar);
	/* Phase 2: worker 0's bugs, while the others wait. */
	if (id == 0) {
		if (pk_try(bug_read_session, &s, &f) == -EFAULT &&
		    f.key == sess_key && f.access == PK_ACCESS_READ)
			faults_seen++;
		if (pk_try(bug_write_config, NULL, &f) == -EFAULT &&
		    f.key == cfg_key && f.access == PK_ACCESS_WRITE)
			faults_seen++;
	}
	pthread_barrier_wait(&bar);
	/* Phase 3: the main thread reloads the config; then more work. */
	pthread_barrier_wait(&bar);
	for (int i = id; i < REQUESTS; i += WORKERS)
		served[id] += serve(i % SESSIONS) != 0;
	/* A worker that leaves its window open (a bug, or a cancelled
	 * request): closed for it by pk_set_all at shutdown. */
	if (id == 1)
		pk_set(sess_key, PK_DISABLE_WRITE);
	pthread_barrier_wait(&bar);
	pthread_barrier_wait(&bar);
	return (void *)(long)(pk_get(sess_key) == PK_DISABLE_ACCESS);
}

static void *keyed(size_t bytes, int key)
{
	void *p = NULL;

	return pk_mmap(&p, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, key)
		       ? NULL
		       : p;
}

int main(void)
{
	pthread_t t[WORKERS];
	unsigned long total = 0;
	int closed = 0;
	void *ret;

	/* Sessions closed and config read-only in every thread, from the
	 * start: the keys' initial rights. */
	sess_key = pk_key_alloc(0, PK_DISABLE_ACCESS);
	cfg_key = pk_key_alloc(0, PK_DISABLE_WRITE);
	if (sess_key < 0 || cfg_key < 0)
		return fprintf(stderr, "pk_key_alloc failed\n"), 1;
	sessions = keyed(SESSIONS * sizeof(*sessions), sess_key);
	cfg = keyed(sizeof(*cfg), cfg_key);
	if (!sessions || !cfg)
		return fprintf(stderr, "pk_mmap failed\n"), 1;

	/* Setup writes both, in this thread's own windows. */
	pk_set(sess_key, 0);
	for (int i = 0; i < SESSIONS; i++)
		snprintf(sessions[i], sizeof(sessions[i]), "sess-%04x-%d",
			 i * 2654435761u >> 16, i);
	pk_set(sess_key, PK_DISABLE_ACCESS);
	pk_set(cfg_key, 0);
	*cfg = (struct config){1, 17};
	pk_set(cfg_key, PK_DISABLE_WRITE);

	pthread_barrier_init(&bar, NULL, WORKERS + 1);
	for (long i = 0; i < WORKERS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i))
			return fprintf(stderr, "pthread_create failed\n"), 1;
	pthread_barrier_wait(&bar);	/* phase 1 done */
	pthread_barrier_wait(&bar);	/* phase 2 done */
	pk_set(cfg_key, 0);		/* reload: this thread only */
	*cfg = (struct config){2, 23};
	pk_set(cfg_key, PK_DISABLE_WRITE);
	pthread_barrier_wait(&bar);	/* phase 3 starts */
	pthread_barrier_wait(&bar);	/* phase 3 done */
	pk_set_all(sess_key, PK_DISABLE_ACCESS); /* shutdown: every thread */
	pthread_barrier_wait(&bar);
	for (int i = 0; i < WORKERS; i++) {
		pthread_join(t[i], &ret);
		closed += (int)(long)ret;
		total += served[i];
	}
	printf("%d workers served %lu requests with config v%u; %d worker "
	       "bugs stopped; sessions closed in %d of %d workers at shutdown\n",
	       WORKERS, total, cfg->version, faults_seen, closed, WORKERS);
	return total == 2 * REQUESTS && faults_seen == 2 &&
			       closed == WORKERS && cfg->version == 2
		       ? 0
		       : 1;
}
