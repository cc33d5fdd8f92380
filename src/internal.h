/*
 * Internal interfaces shared by the core, the backends and the
 * interposers.  Non-static internal names start with pk__.
 */
#ifndef PK_INTERNAL_H
#define PK_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

#include "backend.h"
#include "pkeys.h"

/* Hardware keys x86 PKRU names; the library's keys (virtual on x86). */
#define PK__MAX_KEYS 16
#define PK__KEYS 1024
#define PK__RIGHTS_UNSET 0xffu
#define PK__RIGHTS_MASK (PK_DISABLE_ACCESS | PK_DISABLE_WRITE)
#define PK__PROT_MASK (PROT_READ | PROT_WRITE | PROT_EXEC)

/* select.c: the backend in use, chosen once; NULL if none can work. */
const struct pk__backend *pk__backend(void);
/* The backend if one was already chosen, else NULL; never chooses. */
const struct pk__backend *pk__backend_peek(void);
int pk__init_status(void);
size_t pk__page_size(void);
/* Whether user addresses may have 56 bits (5-level paging). */
int pk__la57(void);

/*
 * The one lock that serialises key allocation, the registry and, on the
 * emulation, every change of rights.  It is taken around fork(2) so the
 * child gets a consistent registry.
 */
extern pthread_mutex_t pk__lock;
/* Take and drop pk__lock; a no-op inside this thread's own fork(2). */
void pk__lock_take(void);
/* The signals blocked while pk__lock is held: all but synchronous
 * faults and the hardware backend's sync signal. */
void pk__lock_mask(sigset_t *set);
/* pk__lock_take if the lock is free now (1), else 0; never waits. */
int pk__lock_try(void);
void pk__lock_drop(void);
/* Whether this thread is inside fork(2), between the fork handlers. */
int pk__in_fork(void);

/* Keys allocated through the library (bit k = key k). */
int pk__key_allocated(int key);
void pk__key_forget_name(int key); /* fault.c; lock held */

/*
 * arena.c: the library's own memory, from one reservation that is never
 * the program's (pk__lock held).  Page-granular, never freed.
 */
void *pk__arena_alloc(size_t bytes);
void *pk__arena_scratch(size_t bytes);
/* Where the reservation lies; both 0 before the first allocation. */
void pk__arena_bounds(uintptr_t *start, uintptr_t *end);

/*
 * registry.c: key assignments.  Each range has a key (0 only when a
 * range was assigned key 0 explicitly), the protection the program gave
 * its pages (the emulation narrows it by the rights in force), and
 * flags: MAPPED while pages are mapped there, PERSIST when the key
 * outlives the mapping.  All calls need pk__lock, except reading the
 * counters, which fast paths do without it to skip work when nothing
 * is registered.  Updates need room reserved first (pk__reg_reserve):
 * 3 nodes per assign/set_prot/unmap/map call.
 */
#define PK__REG_LEVELS 12
#define PK__R_MAPPED 0x1u
#define PK__R_PERSIST 0x2u

struct pk__range {
	uintptr_t start, end;
	int key;
	int prot;
	unsigned char flags;
	unsigned char level;
	struct pk__range *kprev, *knext; /* ranges with the same key */
	struct pk__range *next[PK__REG_LEVELS];
};

int pk__reg_reserve(size_t extra);
/* Give [start,end) one assignment (key -1: none). */
void pk__reg_assign(uintptr_t start, uintptr_t end, int key, int prot,
		    unsigned flags);
/* Change the prot of the mapped, assigned parts of [start,end). */
void pk__reg_set_prot(uintptr_t start, uintptr_t end, int prot);
/* Pages went away: forget assignments, keep PERSIST ones as unmapped. */
void pk__reg_unmap(uintptr_t start, uintptr_t end);
/* New pages with prot appeared under (PERSIST) assignments. */
void pk__reg_map(uintptr_t start, uintptr_t end, int prot);
/* A mapping moved (mremap); keep_old when the old one stays. */
int pk__reg_move(uintptr_t old, size_t oldlen, uintptr_t new_addr,
		 size_t newlen, int keep_old);
/* The first range that ends after addr, or NULL; walk with next[0]. */
struct pk__range *pk__reg_lower(uintptr_t addr);
const struct pk__range *pk__reg_find(uintptr_t addr);
int pk__reg_overlaps(uintptr_t start, uintptr_t end);
/* Whether a persistent assignment meets [start,end).  pk__lock held. */
int pk__reg_persist_in(uintptr_t start, uintptr_t end);
int pk__reg_key_in_use(int key);
extern struct pk__range *pk__reg_by_key[PK__KEYS];
extern size_t pk__reg_n, pk__reg_persist_n;

static inline int pk__reg_empty(void)
{
	return __atomic_load_n(&pk__reg_n, __ATOMIC_RELAXED) == 0;
}

/*
 * os_vma.c: call fn for each mapping overlapping [start,end), in order,
 * with its whole extent and protection; stops at fn's first non-zero
 * return and returns it, or -errno if the mappings cannot be read.
 */
typedef int (*pk__vma_fn)(void *ctx, uintptr_t start, uintptr_t end,
			  int prot);
int pk__vma_walk(uintptr_t start, uintptr_t end, pk__vma_fn fn, void *ctx);

/*
 * change.c: one all-or-nothing change over [start,end), pk__lock held.
 * key >= 0 gives the pages that key (with FORGET: key 0 and no
 * assignment left); key -1 keeps each page's key.  PROT sets every
 * page's protection to prot, otherwise each keeps its own.  Returns 0,
 * or -errno with every page and the registry as before.
 */
#define PK__C_PROT 0x01	       /* set the protection to prot */
#define PK__C_FORGET 0x02      /* remove assignments (key must be 0) */
#define PK__C_PERSIST 0x04     /* record the assignment as persistent */
#define PK__C_EXCL 0x08	       /* -EBUSY if anything is assigned */
#define PK__C_AUTHORITY 0x10   /* -EPERM unless write rights on old keys */
#define PK__C_UNMAPPED_OK 0x20 /* unmapped parts are not -ENOMEM */

struct pk__change {
	uintptr_t start, end;
	int prot, key;
	unsigned flags;
};
int pk__change(const struct pk__backend *b, const struct pk__change *c);

/*
 * A new mapping [start,end), made PROT_NONE, replaced what was there:
 * open it with prot, persistent assignments' pages with their key.
 * pk__lock held.  On failure the caller unmaps it.
 */
int pk__map_new(const struct pk__backend *b, uintptr_t start, uintptr_t end,
		int prot);

/* api.c: the core operations the interposers reuse. */
int pk__mprotect(void *addr, size_t len, int prot, int key, int strict);
/* Pages [start,end) were unmapped: update the registry.  pk__lock held. */
void pk__unmapped(uintptr_t start, uintptr_t end);

/*
 * Resolve the next definition of an interposed libc function once.
 * Static programs have no RTLD_NEXT: the result is NULL there and the
 * callers fall back to the raw system call.
 */
#define NEXT(type, name)                                                   \
	static type next_##name;                                           \
	if (!next_##name)                                                  \
		next_##name = (type)dlsym(RTLD_NEXT, #name)

/*
 * threads.c: the library's record of each thread's rights (see there).
 * rights[k] is PK__RIGHTS_UNSET while the thread holds key k's initial
 * rights.  All calls need pk__lock, except reading one's own record.
 */
struct pk__thread {
	struct pk__thread *prev, *next;
	int tid;		/* 0 until the thread runs */
	unsigned sync_seq;	/* bumped when another thread rebuilt PKRU */
	uint8_t rights[PK__KEYS];
	uint8_t domain_refs[PK__KEYS]; /* domains entered and not left */
};
extern uint8_t pk__init_rights[PK__KEYS];
extern struct pk__thread *pk__threads;
extern int pk__threads_n, pk__threads_unknown;
/* Per key: domains entered and not left, over all threads. */
extern unsigned pk__domain_users[PK__KEYS];
/* Set by pk_key_free while it decides; domain entry backs off (domain.c). */
extern unsigned char pk__key_freeing[PK__KEYS];
unsigned pk__rights_of(const struct pk__thread *t, int key);
/* prot less what rights forbid (data access only; PROT_EXEC stays). */
int pk__narrow(int prot, unsigned rights);
/*
 * Whether prot lets an access of kind need (PROT_READ or PROT_WRITE)
 * through: on x86 a writable page is readable too.
 */
static inline int pk__prot_allows(int prot, int need)
{
	if (prot & PROT_WRITE)
		prot |= PROT_READ;
	return (prot & need) != 0;
}
/* The union over threads of their rights for key.  pk__lock held. */
unsigned pk__union_rights(int key);
struct pk__thread *pk__self_locked(void);
struct pk__thread *pk__thread_for_child(void);
void pk__thread_gone(struct pk__thread *t);
int pk__for_each_task(int (*fn)(void *ctx, int tid), void *ctx);
int pk__count_tasks(void);
void pk__threads_recount(void);
void pk__threads_fork_prepare(void);
void pk__threads_fork_child(void);

/*
 * thread_create.c: the calling thread's record (NULL until it has one),
 * adopting a record for a thread the library did not create, and
 * creating a thread that inherits the caller's rights.
 */
extern __thread struct pk__thread *pk__thread_state
	__attribute__((tls_model("initial-exec")));
void pk__thread_adopt(struct pk__thread *t);
typedef int (*pk__pthread_create_fn)(pthread_t *, const pthread_attr_t *,
				     void *(*)(void *), void *);
int pk__thread_create(pk__pthread_create_fn real, pthread_t *thread,
		      const pthread_attr_t *attr, void *(*fn)(void *),
		      void *arg);

/* x86_sync.c: rebuild every other thread's PKRU (hardware backend). */
int pk__x86_sync_init(void (*rebuild)(void *uc));
int pk__x86_sync_all(void);
int pk__x86_sync_signal(void);

/*
 * Raw protection system calls: never interposed.  Every protection
 * change the library makes goes through these, so a test can make the
 * n-th one fail (pk__test_fail_protect).
 */
long pk__sys_mprotect(void *addr, size_t len, int prot);
long pk__sys_pkey_mprotect(void *addr, size_t len, int prot, int key);
PK_API void pk__test_fail_protect(int nth, int err);

#endif
