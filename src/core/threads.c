/* SPDX-License-Identifier: MIT */
/*
 * Per-thread rights, kept by the library for every thread it knows.
 *
 * A thread's rights for a key are what it set (pk_set, a domain, or
 * pk_set_all), what it inherited from its creator, or else the key's
 * initial rights (pk_key_alloc's argument): every thread, existing or
 * future, gets a new key's initial rights.  The emulation enforces these
 * records directly; the hardware backend keeps each thread's rights
 * register equal to them and rebuilds the register from them when
 * another thread changes them (backend/sync.c).
 *
 * Records come from the arena and live on one list under the lock.
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
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/keys.h"
#include "core/lock.h"
#include "core/threads.h"
#include "os/tasks.h"

struct pk__thread *pk__threads;
int pk__threads_n, pk__threads_unknown;
unsigned pk__records_seq;
__thread struct pk__thread *pk__thread_state
	__attribute__((tls_model("initial-exec")));
void (*pk__threads_exit_hook)(void);
static struct pk__thread *spare;
static pthread_key_t exit_key;
static pthread_once_t exit_once = PTHREAD_ONCE_INIT;
static void adopt(struct pk__thread *t);

/* lock held. */
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
 * The memo before the counts: a thread moves its memo's depth into
 * domain_refs by raising the counts first, then zeroing depth (all
 * sequentially consistent), so a depth read as 0 means the counts
 * read after it hold what depth held.
 */
static int memo_holds(struct pk__thread *t, int key)
{
	struct pk__domain_memo *m = &t->memo;
	int n;

	if (!__atomic_load_n(&m->depth, __ATOMIC_SEQ_CST))
		return 0;
	n = __atomic_load_n(&m->n, __ATOMIC_RELAXED);
	for (int i = 0; i < n && i < PK__MEMO_MAX; i++)
		if (__atomic_load_n(&m->key[i], __ATOMIC_RELAXED) == key)
			return 1;
	return 0;
}

int pk__threads_in_domain(int key)
{
	for (struct pk__thread *t = pk__threads; t; t = t->next)
		if (memo_holds(t, key) ||
		    __atomic_load_n(&t->domain_refs[key], __ATOMIC_SEQ_CST))
			return 1;
	return 0;
}

/* The calling thread's record, made on first use.  lock held. */
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
	adopt(t);
	return t;
}

struct pk__thread *pk__self(void)
{
	struct pk__thread *t = pk__thread_state;

	if (!t) {
		pk__lock_take();
		t = pk__self_locked();
		pk__lock_drop();
	}
	return t;
}

/*
 * A record for a thread about to be created, inheriting the creator's
 * rights (as the CPU copies the rights register into a new thread).
 * Lock held.
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
 * Entries leave when a count no longer finds them.  lock held.
 */
#define EXITING 16
static int exiting[EXITING];
static unsigned exiting_next;

/* A thread exits, or was never created.  lock held. */
void pk__thread_gone(struct pk__thread *t)
{
	if (t->tid)
		exiting[exiting_next++ % EXITING] = t->tid;
	unlink_thread(t);
	t->next = spare;
	spare = t;
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
	/*
	 * A task without a record may be a thread the library never knew
	 * that has exited but is still listed: not a holder of rights.
	 */
	for (struct pk__thread *t = pk__threads; t; t = t->next)
		if (t->tid == tid) {
			l->n++;
			return 0;
		}
	if (!pk__task_exited(tid))
		l->n++;
	return 0;
}

/* The caller is the only thread, and the library's only record. */
static int alone(void)
{
	return pk__threads_n == 1 && pk__threads == pk__thread_state &&
	       pk__tasks_libc_alone();
}

/*
 * The kernel counts as many threads as there are records, each of a
 * thread that started: they are the same threads (every record is a
 * task that exists, below), none unknown, and no exiting one is still
 * listed.  One fstat instead of reading the directory.  (A thread that
 * ends without its exit handlers, by a raw exit system call, leaves
 * its record behind: beside one unknown thread the counts agree.  The
 * hardware backend's signal rounds check each record's thread; here an
 * unknown thread would go uncounted until the next count that differs.)
 * No fstat where the C library says the caller is the only thread and
 * it is the only record (os/tasks.h).
 */
int pk__threads_all_recorded(void)
{
	if (!alone() && pk__tasks_listed() != pk__threads_n)
		return 0;
	for (struct pk__thread *t = pk__threads; t; t = t->next)
		if (!__atomic_load_n(&t->tid, __ATOMIC_ACQUIRE))
			return 0;
	return 1;
}

void pk__threads_recount(void)
{
	struct live l = {0, 0};

	if (pk__threads_all_recorded()) {
		memset(exiting, 0, sizeof(exiting));
		pk__threads_unknown = 0;
		return;
	}
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

/* In the child: only the forking thread is left.  lock held. */
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
	pk__tasks_forked();
	/* A forking thread without a record holds the initial rights. */
	pk__threads_unknown = self ? 0 : 1;
}

/* The most that a thread with rights a or one with rights b may do. */
static unsigned wider(unsigned a, unsigned b)
{
	if (a == 0 || b == 0)
		return 0;
	if (!(a & PK_DISABLE_ACCESS) || !(b & PK_DISABLE_ACCESS))
		return PK_DISABLE_WRITE;
	return PK_DISABLE_ACCESS;
}

/*
 * The most any live thread may do with key: what page protections
 * enforce when they stand for the key.  Threads the library has no
 * record of hold the initial rights.  lock held.
 *
 * Threads started behind the library (glibc's SIGEV_THREAD and AIO
 * helpers, libc's own pthread_create) appear without notice, and the
 * count of them is taken only now and then.  So when the answer
 * depends on them (the initial rights allow more than the known
 * threads), the kernel's thread count is read (one fstat(2)), and the
 * threads counted again if it lists more than the library knows.  A
 * program whose only thread is the caller, as its C library says,
 * skips that system call: libc's own threads would have told it.
 */
unsigned pk__union_rights(int key)
{
	unsigned u = PK_DISABLE_ACCESS, init = pk__key_init_rights(key);

	for (struct pk__thread *t = pk__threads; t && u; t = t->next)
		u = wider(u, pk__rights_of(t, key));
	if (wider(u, init) != u && pk__threads_unknown == 0 &&
	    !alone() && pk__tasks_listed() > pk__threads_n)
		pk__threads_recount();
	return pk__threads_unknown > 0 ? wider(u, init) : u;
}

/* The least that a thread with rights a and one with rights b may do. */
static unsigned narrower(unsigned a, unsigned b)
{
	unsigned r = a | b;

	return (r & PK_DISABLE_ACCESS) ? PK_DISABLE_ACCESS : r;
}

/*
 * The least any live thread may do with key: what page protections
 * enforce in the emulation's exact mode, where pages stay closed to
 * every thread that lacks rights.  Threads the library has no record of
 * hold the initial rights: their count is taken again when the kernel
 * lists fewer threads than it says (one fstat(2)), so that one that
 * exited stops closing the pages.  lock held.
 */
unsigned pk__meet_rights(int key)
{
	unsigned m = 0, init = pk__key_init_rights(key);

	for (struct pk__thread *t = pk__threads; t; t = t->next)
		m = narrower(m, pk__rights_of(t, key));
	if (pk__threads_unknown > 0 && narrower(m, init) != m &&
	    pk__tasks_listed() < pk__threads_n + pk__threads_unknown)
		pk__threads_recount();
	return pk__threads_unknown > 0 ? narrower(m, init) : m;
}

/* Rounds of thread-specific data destructors this thread has run. */
static __thread int exit_rounds;

static void thread_exit(void *value)
{
	uintptr_t v = (uintptr_t)value;
	struct pk__thread *t;

	/*
	 * Other keys' destructors may still use the thread's rights: keep
	 * the record through the rounds of destructors, but one: runtimes
	 * such as ThreadSanitizer finish the thread in the last round.
	 */
	if (++exit_rounds < PTHREAD_DESTRUCTOR_ITERATIONS - 1 &&
	    pthread_setspecific(exit_key, value) == 0)
		return;
	if (v & 1) {
		t = (void *)(v & ~(uintptr_t)1);
	} else {
		t = *(struct pk__thread **)value;
		free(value);
	}
	pk__lock_take();
	pk__thread_state = NULL;
	pk__thread_gone(t);
	if (pk__threads_exit_hook)
		pk__threads_exit_hook();
	pk__lock_drop();
}

static void make_exit_key(void)
{
	pthread_key_create(&exit_key, thread_exit);
}

pthread_key_t pk__threads_exit_key(void)
{
	pthread_once(&exit_once, make_exit_key);
	return exit_key;
}

/* A thread the library did not create gets its record.  Lock held. */
static void adopt(struct pk__thread *t)
{
	pk__thread_state = t;
	pthread_setspecific(pk__threads_exit_key(), (void *)((uintptr_t)t | 1));
}
