/*
 * Per-thread rights, kept by the library for every thread it knows.
 *
 * A thread's rights for a key are what it set (pk_set, a domain, or
 * pk_set_all), what it inherited from its creator, or else the key's
 * initial rights (pk_key_alloc's argument): every thread, existing or
 * future, gets a new key's initial rights.  The emulation enforces these
 * records directly; the hardware backend keeps PKRU equal to them and
 * rebuilds PKRU from them when another thread changes them (sync.c).
 *
 * Records come from the arena and live on one list under pk__lock.
 * Threads the library did not create and that never called it have no
 * record: they hold the initial rights.  Their number is estimated from
 * /proc/self/task (pk__threads_unknown), so the emulation can count
 * their rights in the union it applies to pages.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

uint8_t pk__init_rights[PK__KEYS];
struct pk__thread *pk__threads;
int pk__threads_n, pk__threads_unknown;
static struct pk__thread *spare;

/* pk__lock held. */
static struct pk__thread *record_new(void)
{
	struct pk__thread *t;

	if (!spare) {
		size_t n = 16;
		t = pk__arena_alloc(n * sizeof(*t));
		if (!t)
			return NULL;
		for (size_t i = 0; i < n; i++) {
			t[i].next = spare;
			spare = &t[i];
		}
	}
	t = spare;
	spare = t->next;
	memset(t, 0, sizeof(*t));
	return t;
}

static void link_thread(struct pk__thread *t)
{
	t->prev = NULL;
	t->next = pk__threads;
	if (pk__threads)
		pk__threads->prev = t;
	pk__threads = t;
	pk__threads_n++;
}

static void unlink_thread(struct pk__thread *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		pk__threads = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pk__threads_n--;
}

/*
 * A thread reads its own record without the lock while pk_set_all may
 * write it under the lock: single bytes, accessed atomically.
 */
unsigned pk__rights_of(const struct pk__thread *t, int key)
{
	unsigned r = t ? __atomic_load_n(&t->rights[key], __ATOMIC_RELAXED)
		       : PK__RIGHTS_UNSET;

	return r == PK__RIGHTS_UNSET
		       ? __atomic_load_n(&pk__init_rights[key], __ATOMIC_RELAXED)
		       : r;
}

/* The calling thread's record, made on first use.  pk__lock held. */
struct pk__thread *pk__self_locked(void)
{
	struct pk__thread *t = pk__thread_state;

	if (t)
		return t;
	t = record_new();
	if (!t)
		return NULL;
	memset(t->rights, PK__RIGHTS_UNSET, sizeof(t->rights));
	t->tid = (int)syscall(SYS_gettid);
	link_thread(t);
	/* It was one of the unknown, or started after the last count. */
	pk__threads_recount();
	pk__thread_adopt(t);
	return t;
}

/*
 * A record for a thread about to be created, inheriting the creator's
 * rights (as the CPU copies PKRU into a new thread).  pk__lock held.
 */
struct pk__thread *pk__thread_for_child(void)
{
	struct pk__thread *from = pk__thread_state, *t = record_new();

	if (!t)
		return NULL;
	if (from)
		memcpy(t->rights, from->rights, sizeof(t->rights));
	else
		memset(t->rights, PK__RIGHTS_UNSET, sizeof(t->rights));
	link_thread(t);
	return t;
}

/*
 * Threads whose record is gone but whose task /proc may still list for a
 * moment (pthread_join returns before the kernel releases the task): a
 * count of the tasks then must not take them for unknown threads.
 * Entries leave when a count no longer finds them.  pk__lock held.
 */
#define EXITING 16
static int exiting[EXITING];
static unsigned exiting_next;

/* A thread exits, or was never created.  pk__lock held. */
void pk__thread_gone(struct pk__thread *t)
{
	if (t->tid)
		exiting[exiting_next++ % EXITING] = t->tid;
	unlink_thread(t);
	for (int k = 1; k < PK__KEYS; k++)
		if (t->domain_refs[k])
			__atomic_sub_fetch(&pk__domain_users[k], t->domain_refs[k],
					   __ATOMIC_RELAXED);
	t->next = spare;
	spare = t;
}

/*
 * Call fn(ctx, tid) for each thread of the process, from /proc/self/task
 * with raw system calls (no malloc: callers hold pk__lock).  Stops at
 * fn's first non-zero return and returns it, or -errno.
 */
int pk__for_each_task(int (*fn)(void *ctx, int tid), void *ctx)
{
	char buf[4096];
	long n;
	int fd, rc = 0;

	fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (rc == 0 && (n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n && rc == 0;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			int tid = 0;
			for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
				tid = tid * 10 + (*c - '0');
			if (tid > 0)
				rc = fn(ctx, tid);
			off += d->reclen;
		}
	close(fd);
	return rc;
}

static int count_one(void *ctx, int tid)
{
	(void)tid;
	++*(int *)ctx;
	return 0;
}

/* Threads in the process now; -1 if /proc cannot tell. */
int pk__count_tasks(void)
{
	int count = 0;

	return pk__for_each_task(count_one, &count) ? -1 : count;
}

struct live {
	int n;
	unsigned seen;
};

static int count_live(void *ctx, int tid)
{
	struct live *l = ctx;

	for (int i = 0; i < EXITING; i++)
		if (exiting[i] == tid) {
			l->seen |= 1u << i;
			return 0;
		}
	l->n++;
	return 0;
}

void pk__threads_recount(void)
{
	struct live l = {0, 0};

	if (pk__for_each_task(count_live, &l))
		return;
	for (int i = 0; i < EXITING; i++)
		if (!(l.seen & (1u << i)))
			exiting[i] = 0;
	/*
	 * Every record is a task that exists: records are made under the
	 * lock in which their thread is cloned, before it runs (its tid is
	 * still 0 then), and dropped when it exits (then its task is on
	 * the exiting list until it leaves /proc).
	 */
	pk__threads_unknown = l.n > pk__threads_n ? l.n - pk__threads_n : 0;
}

/* The threads that existed at fork; records made later are the child's. */
static struct pk__thread *at_fork;

void pk__threads_fork_prepare(void)
{
	at_fork = pk__threads;
}

/* In the child: only the forking thread is left.  pk__lock held. */
void pk__threads_fork_child(void)
{
	struct pk__thread *t, *next, *self = pk__thread_state;

	for (t = at_fork; t; t = next) {
		next = t->next;
		if (t != self)
			pk__thread_gone(t);
	}
	if (self)
		self->tid = (int)syscall(SYS_gettid);
	/* A forking thread without a record holds the initial rights. */
	pk__threads_unknown = self ? 0 : 1;
}

int pk__narrow(int prot, unsigned rights)
{
	/* x86 has no write-only pages: a writable page reads too. */
	if (prot & PROT_WRITE)
		prot |= PROT_READ;
	if (rights & PK_DISABLE_ACCESS)
		return prot & ~(PROT_READ | PROT_WRITE);
	if (rights & PK_DISABLE_WRITE)
		return prot & ~PROT_WRITE;
	return prot;
}

/*
 * The most any live thread may do with key: what page protections
 * enforce when they stand for the key.  Threads the library has no
 * record of hold the initial rights.  pk__lock held.
 */
unsigned pk__union_rights(int key)
{
	unsigned u = PK_DISABLE_ACCESS;

	if (pk__threads_unknown > 0)
		u = pk__init_rights[key];
	for (struct pk__thread *t = pk__threads; t && u; t = t->next) {
		unsigned r = pk__rights_of(t, key);
		if (r == 0)
			u = 0;
		else if (!(r & PK_DISABLE_ACCESS))
			u = PK_DISABLE_WRITE;
	}
	return u;
}
