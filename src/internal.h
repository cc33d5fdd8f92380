/*
 * Internal interfaces shared by the core, the backends and the
 * interposers.  Non-static internal names start with pk__.
 */
#ifndef PK_INTERNAL_H
#define PK_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"
#include "pkeys.h"

#define PK__MAX_KEYS 16
#define PK__RIGHTS_MASK (PK_DISABLE_ACCESS | PK_DISABLE_WRITE)
#define PK__PROT_MASK (PROT_READ | PROT_WRITE | PROT_EXEC)

/* select.c: the backend in use, chosen once; NULL if none can work. */
const struct pk__backend *pk__backend(void);
/* The backend if one was already chosen, else NULL; never chooses. */
const struct pk__backend *pk__backend_peek(void);
int pk__init_status(void);
size_t pk__page_size(void);

/*
 * The one lock that serialises key allocation, the registry and, on the
 * emulation, every change of rights.  It is taken around fork(2) so the
 * child gets a consistent registry.
 */
extern pthread_mutex_t pk__lock;
/* Take and drop pk__lock; a no-op inside this thread's own fork(2). */
void pk__lock_take(void);
void pk__lock_drop(void);
/* Whether this thread is inside fork(2), between the fork handlers. */
int pk__in_fork(void);

/* Keys allocated through the library (bit k = key k). */
int pk__key_allocated(int key);

/*
 * registry.c: which pages carry which key, and the protection the
 * program asked for (the emulation narrows it by the rights in force).
 * Ranges are sorted, disjoint, whole pages, key >= 1, and adjacent
 * ranges with the same key and prot are merged.  All calls need
 * pk__lock, except pk__reg_empty, which is a relaxed read for fast
 * paths that only skip work when nothing was ever keyed.
 */
struct pk__range {
	uintptr_t start, end;
	int key;
	int prot;
};

/* Make room for `extra` more ranges so the next updates cannot fail. */
int pk__reg_reserve(size_t extra);
/* Give [start,end) key and prot (key 0: forget it).  Needs room for 2. */
void pk__reg_assign(uintptr_t start, uintptr_t end, int key, int prot);
/* Change only the prot of the keyed parts of [start,end).  Room for 2. */
void pk__reg_set_prot(uintptr_t start, uintptr_t end, int prot);
/* Index of the first range that ends after addr (may be pk__reg_n). */
size_t pk__reg_lower(uintptr_t addr);
/* The range holding addr, or NULL. */
const struct pk__range *pk__reg_find(uintptr_t addr);
/* Whether any keyed page lies in [start,end). */
int pk__reg_overlaps(uintptr_t start, uintptr_t end);
int pk__reg_key_in_use(int key);
extern struct pk__range *pk__reg;
extern size_t pk__reg_n;

static inline int pk__reg_empty(void)
{
	return __atomic_load_n(&pk__reg_n, __ATOMIC_RELAXED) == 0;
}

/* A keyed mapping moved (mremap): carry its ranges along. */
int pk__reg_move(uintptr_t old, size_t oldlen, uintptr_t new_addr,
		 size_t newlen);

/* api.c: the core operations the interposers reuse. */
int pk__mprotect(void *addr, size_t len, int prot, int key, int strict);
void pk__forget(void *addr, size_t len);

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
 * thread_create.c: the calling thread's backend state (NULL until the
 * backend gives it one), adopting a state for a thread the library did
 * not create, and creating a thread that inherits the caller's rights.
 */
extern __thread void *pk__thread_state __attribute__((tls_model("initial-exec")));
void pk__thread_adopt(void *state);
typedef int (*pk__pthread_create_fn)(pthread_t *, const pthread_attr_t *,
				     void *(*)(void *), void *);
int pk__thread_create(pk__pthread_create_fn real, pthread_t *thread,
		      const pthread_attr_t *attr, void *(*fn)(void *),
		      void *arg);

/* Raw system calls: never interposed, never touch errno on success. */
long pk__sys_mprotect(void *addr, size_t len, int prot);
long pk__sys_pkey_mprotect(void *addr, size_t len, int prot, int key);

#endif
