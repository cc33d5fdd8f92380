/* SPDX-License-Identifier: MIT */
/*
 * pkeys: memory protection keys for every Linux program.
 *
 * A protection key tags pages; each thread holds its own rights for each
 * key (access-disable, write-disable) and those rights narrow what the
 * page protection allows.  On CPUs with protection keys (x86-64 PKU,
 * POWER) the library uses the hardware (the pkey system calls and the
 * CPU's rights register); everywhere else it emulates the same semantics
 * with page protections.  See libpkeys(7) and README.md.
 *
 * Conventions: every function returns 0 or a non-negative value on
 * success and a negative errno value on failure.  A failing call changes
 * no key, no right and no page protection.  All functions are
 * thread-safe.
 *
 * Structures may grow.  Those the library fills (struct pk_fault,
 * struct pk_info, struct pk_heap_usage) end in spare space that it
 * zeroes, where later versions add fields.  Those a program fills
 * (struct pk_heap_options) end in spare fields that must be 0: set
 * the whole structure (= {0}, or designated initializers); a non-zero
 * spare field is -EINVAL, so that later versions can give it meaning.
 * Fields are only ever added there, never moved, within a major version.
 *
 * When no backend can work (pk_init failed), every call that needs one
 * returns the error pk_init returned; the default key keeps working:
 * pk_mprotect with key 0 or -1, pk_set(0, 0), pk_get(0).
 *
 * The header builds as C99, C11 and C++.  Two declarations need POSIX
 * types that strict ISO modes (-std=c99, -std=c11) leave out of
 * <signal.h>: pk_fault_decode (siginfo_t) and pk_sigaltstack (stack_t).
 * There they appear only when the program asks for POSIX, as it must
 * for those types anyway: _POSIX_C_SOURCE 200809L (or _GNU_SOURCE)
 * defined before the first #include.  The GNU modes (the compilers'
 * default) and C++ have them.
 */
#ifndef PKEYS_H
#define PKEYS_H

#include <signal.h>
#include <stddef.h>
/* PROT_* and MAP_* for pk_mprotect and pk_mmap. */
#include <sys/mman.h>

/* Whether <signal.h> declared siginfo_t and stack_t (glibc and musl rules). */
#if !defined(__STRICT_ANSI__) || defined(_GNU_SOURCE) || \
	defined(_DEFAULT_SOURCE) || defined(_BSD_SOURCE) || \
	defined(_XOPEN_SOURCE) || \
	(defined(_POSIX_C_SOURCE) && (_POSIX_C_SOURCE + 0) >= 199309L)
#define PK_HAVE_SIGINFO 1
#endif
#if !defined(__STRICT_ANSI__) || defined(_GNU_SOURCE) || \
	defined(_DEFAULT_SOURCE) || defined(_BSD_SOURCE) || \
	defined(_XOPEN_SOURCE_EXTENDED) || \
	(defined(_XOPEN_SOURCE) && (_XOPEN_SOURCE + 0) >= 500) || \
	(defined(_POSIX_C_SOURCE) && (_POSIX_C_SOURCE + 0) >= 200809L)
#define PK_HAVE_STACK_T 1
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define PK_VERSION_MAJOR 0
#define PK_VERSION_MINOR 1
#define PK_VERSION_PATCH 0
/* PK_VERSION is comparable: (major << 16) | (minor << 8) | patch. */
#define PK_VERSION \
	((PK_VERSION_MAJOR << 16) | (PK_VERSION_MINOR << 8) | PK_VERSION_PATCH)

#if defined(__GNUC__)
#define PK_API __attribute__((visibility("default")))
#else
#define PK_API
#endif

/* Rights a thread holds for a key; 0 means full access. */
#define PK_DISABLE_ACCESS 0x1u /* no reads, no writes */
#define PK_DISABLE_WRITE 0x2u  /* reads only */

/* The default key: every page carries it until given another. */
#define PK_KEY_DEFAULT 0

/* Run-time version: PK_VERSION of the library actually loaded. */
PK_API int pk_version(void);

/*
 * Choose the backend now instead of at the first call.  The choice is
 * made once per process: PKEYS_BACKEND=hw or emu forces one, unset or
 * "auto" picks hw where the CPU and kernel support it, else emu.
 * Returns 0, -EOPNOTSUPP when PKEYS_BACKEND=hw and the hardware backend
 * cannot work here, -EINVAL when PKEYS_BACKEND holds an unknown value.
 * After a failure every key call returns the same error; pk_mprotect
 * with key -1 or 0 still works.  pk_backend_reason() says why.
 */
PK_API int pk_init(void);

/* "x86_pku", "emu", or "none" when pk_init failed. */
PK_API const char *pk_backend_name(void);

/* One line: why this backend was chosen, or why none could be. */
PK_API const char *pk_backend_reason(void);

/*
 * Allocate a key.  flags must be 0.  rights (PK_DISABLE_* bits) become
 * the key's initial rights: every thread of the process, existing or
 * created later, holds them until it changes them (rights a thread held
 * for the same key number before it was freed are forgotten).  New
 * threads inherit their creator's rights.  Both backends have 1023
 * keys: the hardware backend gives as many as it can (at most 15, what
 * the kernel gives) a hardware key each and shares those among the
 * rest (see pk_set).  Returns the key (>= 1), -EINVAL for unknown flags
 * or rights, -ENOSPC when no key is left, -ENOMEM when the library
 * cannot record the calling thread's rights, and on the hardware
 * backend -EAGAIN as pk_set_all.
 */
PK_API int pk_key_alloc(unsigned flags, unsigned rights);

/*
 * Free a key.  Returns 0, -EINVAL when key was not allocated by
 * pk_key_alloc (or is 0), -EBUSY when pages still carry it (give them
 * key 0 with pk_mprotect, or unmap them, first), when a range
 * assignment names it (PK_RANGE_PERSIST ones included: pk_unprotect_range
 * them), or while a thread is inside a domain that holds it.
 */
PK_API int pk_key_free(int key);

/*
 * mprotect(2) that also sets the pages' key.  key -1 changes only the
 * protection and keeps each page's key, as mprotect does; key 0 returns
 * the pages to the default key.  addr must be page aligned and non-NULL;
 * len is rounded up to whole pages; len 0 succeeds and changes nothing.
 * Returns 0, or:
 *   -EINVAL  addr NULL or unaligned, addr+len overflows, prot has bits
 *            other than PROT_READ|PROT_WRITE|PROT_EXEC, key is neither
 *            -1, 0 nor an allocated key;
 *   -ENOMEM  part of the range is not mapped, or the kernel's limit on
 *            mappings would be exceeded;
 *   -EACCES  the protection is not allowed for a file mapping.
 * All or nothing: across several mappings, a failure on one puts the
 * others back.  key 0 also forgets the range's assignments (see
 * pk_protect_range), PERSIST ones included.  Arguments are checked
 * before len, so len 0 with a bad key is -EINVAL.
 */
PK_API int pk_mprotect(void *addr, size_t len, int prot, int key);

/*
 * Set the calling thread's rights for key.  Returns 0, -EINVAL for a key
 * not allocated, for rights other than PK_DISABLE_* bits, or for key 0
 * with rights other than 0 (the default key covers every stack and every
 * library: it is never restricted).  The emulation may also fail, with
 * the rights unchanged, when it must reprotect the key's pages and the
 * kernel refuses: -ENOMEM (no memory, or the mapping limit), -EACCES (a
 * protection the mapping never allowed, such as PROT_WRITE on a shared
 * read-only file mapping, which pk_mprotect accepted while the key was
 * closed).  The hardware backend fails the same way for a key beyond
 * its hardware keys when it cannot give the key's pages their new
 * protection.
 * Async-signal-safe on both backends.  Hardware backend: a read and a
 * write of the rights register, no system call (a thread's first call
 * also makes its record), for a key holding a hardware key.  A key
 * without one (when more keys are allocated than the hardware has)
 * takes the least recently used one: two protection calls per range of the key giving it up, one per
 * range of the key taking it, a pkey_alloc(2) attempt, a read of
 * /proc/self/task and a signal round trip to every other thread; if that
 * fails the key stays shared, its pages narrowed by every thread's
 * rights as on the emulation.
 * Emulation: may change the protection of the key's pages (one mprotect
 * per range) under a process-wide lock taken with signals blocked.
 */
PK_API int pk_set(int key, unsigned rights);

/* The calling thread's rights for key (PK_DISABLE_* bits), or -EINVAL. */
PK_API int pk_get(int key);

/*
 * Set key's rights in every thread of the process, before returning;
 * threads created later inherit them from their creators, and threads
 * the library has not seen yet start with them.  Returns 0, -EINVAL as
 * pk_set, -ENOMEM, or on the hardware backend -EAGAIN when a thread
 * blocks the library's sync signal (SIGRTMAX-3) for a second: then no
 * thread's rights changed.  Cost: emulation, one pass over the thread
 * records and one mprotect per range of the key if the union of rights
 * changes; hardware, a signal to every other thread and a wait for each
 * to rebuild its rights register (tens of microseconds for a few threads).
 */
PK_API int pk_set_all(int key, unsigned rights);

/*
 * Domains: several keys' rights set in one step (one register write on
 * the hardware backend), and put back in one step.  Enter fills *saved with
 * what to restore; leave restores it.  Nest them and leave in reverse
 * order.  While a thread is inside a domain, pk_key_free of its keys
 * is -EBUSY.  Both are async-signal-safe.  Returns 0, or -EINVAL (n
 * outside 1..PK_DOMAIN_MAX, a key not allocated, bad rights, a saved
 * state that was not entered), -EBUSY (255 nested domains on one key),
 * or pk_set's errors when pages must be reprotected; on failure no
 * key's rights changed.
 */
#define PK_DOMAIN_MAX 16

struct pk_domain_entry {
	int key;
	unsigned rights;
};

struct pk_domain_saved {
	int n;
	int keys[PK_DOMAIN_MAX];
	unsigned char rights[PK_DOMAIN_MAX];
};

PK_API int pk_domain_enter(const struct pk_domain_entry *domain, int n,
			   struct pk_domain_saved *saved);
PK_API int pk_domain_leave(const struct pk_domain_saved *saved);

/*
 * How many more keys pk_key_alloc can give now (>= 0): on both backends
 * the library's unallocated keys, out of 1023.  No system call.
 */
PK_API int pk_keys_available(void);

/*
 * Key ranges.  An assignment gives a key to a range of pages and keeps
 * each page's protection.  flags:
 *   PK_RANGE_EXCL     only if nothing in the range has a key assigned
 *                     (key 0 assigned explicitly counts), else -EBUSY;
 *   PK_RANGE_PERSIST  the assignment outlives the mapping: memory mapped
 *                     later anywhere in the range comes up with the key
 *                     (pk_mmap, and mmap calls the library sees); the
 *                     range may include unmapped pages;
 *   PK_NO_CHECK_AUTHORITY  skip the authority check: by default the
 *                     calling thread must hold write rights (rights 0)
 *                     for every key now on the range, else -EPERM;
 *   PK_RANGE_ROUND    widen a range that is not whole pages to whole
 *                     pages, instead of failing with -ERANGE.
 */
#define PK_RANGE_EXCL 0x1u
#define PK_RANGE_PERSIST 0x2u
#define PK_NO_CHECK_AUTHORITY 0x4u
#define PK_RANGE_ROUND 0x8u

/*
 * Give [addr, addr+len) key (0 or an allocated key), all or nothing.
 * Returns 0, or:
 *   -EINVAL  unknown flags, or key neither 0 nor allocated;
 *   -ERANGE  addr or len is not a multiple of the page size (and no
 *            PK_RANGE_ROUND): the range has a partial page;
 *   -EFAULT  the range is not inside user space;
 *   -ENOMEM  part of the range is not mapped (without PK_RANGE_PERSIST),
 *            or no memory for the library's records;
 *   -EBUSY   PK_RANGE_EXCL and a key is assigned in the range;
 *   -EPERM   the authority check failed;
 *   -EACCES  the kernel refused the protection (as mprotect(2));
 *   -EIO     an internal step failed in a way not listed here (see
 *            pk_protect_range(3)); every page unchanged in all cases.
 * len 0 succeeds and changes nothing once the arguments are valid.
 */
PK_API int pk_protect_range(void *addr, size_t len, int key, unsigned flags);

/*
 * Return [addr, addr+len) to key 0 and forget its assignments, PERSIST
 * ones included.  flags: PK_NO_CHECK_AUTHORITY, PK_RANGE_ROUND.  Errors
 * as pk_protect_range, less -EBUSY; unmapped pages are not an error.
 */
PK_API int pk_unprotect_range(void *addr, size_t len, unsigned flags);

/*
 * The key assigned to the page holding addr (0 when none), as the
 * library knows it: it agrees with the kernel for pages keyed through
 * the library.  For an unmapped page under a PERSIST range, the key the
 * next mapping there will get.
 */
PK_API int pk_key_of(const void *addr);

/*
 * Map len bytes of new anonymous memory (flags as for mmap(2), e.g.
 * MAP_PRIVATE; MAP_ANONYMOUS is implied) and store its address in *addr,
 * which gives the hint (or the fixed address with MAP_FIXED) on entry.
 * key >= 0 gives it that key; -1 lets PERSIST assignments decide.  The
 * memory is never accessible without its key's rights, at any instant:
 * it is mapped PROT_NONE, keyed, then opened.  Returns 0, -EINVAL (bad
 * argument or key), or the error of mmap(2) or mprotect(2).
 */
PK_API int pk_mmap(void **addr, size_t len, int prot, int flags, int key);

/* munmap(2) that keeps the library's records true.  0 or -errno. */
PK_API int pk_munmap(void *addr, size_t len);

/* What a fault handler learns from pk_fault_decode. */
enum pk_access { PK_ACCESS_READ = 1, PK_ACCESS_WRITE = 2 };

struct pk_fault {
	void *addr;	/* the address the access touched */
	int key;	/* the page's key, or -1 when no key stopped it */
	int access;	/* PK_ACCESS_READ or PK_ACCESS_WRITE, 0 if unknown */
	unsigned rights; /* the thread's rights for key at the fault */
	const char *name; /* the key's name (pk_key_set_name), or NULL */
	void *range_start, *range_end; /* the key's range holding addr */
	int tid;	/* the faulting thread (gettid) */
	void *ip;	/* the faulting instruction, NULL if unknown */
	void *spare[4];	/* zeroed: room for later fields */
};

/*
 * Decode a SIGSEGV inside a SA_SIGINFO handler (info and the ucontext
 * argument).  Returns 1 when a protection key stopped the access, 0 when
 * the fault has another cause (out is still filled: key -1), -EINVAL when
 * info is not a SIGSEGV.  rights are the faulting thread's rights for the
 * key at the fault (on hardware the handler itself runs with the
 * kernel's rights, and siglongjmp does not restore the thread's: use
 * pk_try to recover).  ucontext may be NULL, but then the access kind,
 * the instruction and, on the emulation, whether a write-disabled key
 * caused it, are unknown.  Async-signal-safe on the hardware backend
 * for faults a hardware key caused (SEGV_PKUERR; the range is left NULL
 * when the library's lock is busy), unless another thread moved the
 * key to another hardware key since; then, on the emulation, and on
 * hardware for a key sharing a hardware key (SEGV_ACCERR), it waits for
 * that lock, so it must not run in a handler that interrupted a library
 * call.
 */
#ifdef PK_HAVE_SIGINFO
PK_API int pk_fault_decode(const siginfo_t *info, const void *ucontext,
			   struct pk_fault *out);
#endif

/*
 * Name a key for fault reports (at most 31 bytes are kept; NULL clears).
 * Returns 0, or -EINVAL for a key that is not allocated.
 */
PK_API int pk_key_set_name(int key, const char *name);

/*
 * Write a one-paragraph description of a fault into buf (always NUL-
 * terminated when len > 0).  Returns the length it needed, as
 * snprintf.  Async-signal-safe.
 */
PK_API int pk_fault_format(const struct pk_fault *fault, char *buf,
			   size_t len);

/*
 * Report key faults on stderr: the paragraph of pk_fault_format and a
 * backtrace, then the default action (the process dies of SIGSEGV and
 * dumps core as it would have).  Installs the library's SIGSEGV handler;
 * faults that are not key faults, and key faults after the report, go
 * to the handler installed before it, or to the default action.  A
 * SIGSEGV sent by kill(2) is passed on the same way: ignored if it was
 * ignored, fatal if it had the default action.  flags must be 0.
 * Returns 0 or -errno.
 */
PK_API int pk_fault_report(unsigned flags);

/*
 * Call fn(fault, ctx) for every key fault not caught by pk_try, in the
 * signal handler, before the report.  fn may siglongjmp out (then it
 * must restore rights itself) or return: then the handler installed
 * before the library's is called, or the default action follows.
 * NULL removes it.  Installs the library's SIGSEGV handler.
 */
typedef void (*pk_fault_fn)(const struct pk_fault *fault, void *ctx);
PK_API int pk_fault_set_handler(pk_fault_fn fn, void *ctx);

/*
 * Run fn(arg) and come back with an error instead of a crash when a
 * key stops one of its accesses.  Returns 0 when fn returned, -EFAULT
 * when a key fault in this thread stopped it (*fault filled, if fault is
 * not NULL), -EINVAL when fn is NULL.  Either way the thread's rights
 * are what they were at the moment fn stopped, on both backends.  fn's
 * own state is left as at the fault: no cleanup runs in it.  Faults
 * that are not key faults are not caught.  Calls may nest.
 */
PK_API int pk_try(void (*fn)(void *), void *arg, struct pk_fault *fault);

/*
 * sigaltstack(2) that refuses a stack in keyed memory, where no signal
 * handler could run: -EOPNOTSUPP on both backends (the emulation closes
 * a closed key's pages to the kernel too; on hardware the kernel runs
 * handlers with its initial rights, key 0 only, whatever the thread's,
 * so the handler's first push faults).  Otherwise 0 or the error of
 * sigaltstack(2).
 */
#ifdef PK_HAVE_STACK_T
PK_API int pk_sigaltstack(const stack_t *ss, stack_t *old);
#endif

/* What pk_info reports about the machine and the chosen backend. */
struct pk_info {
	int cpu_pku;	   /* the CPU has protection keys (x86: PKU) */
	int cpu_ospke;	   /* the kernel enabled them (x86: OSPKE) */
	int kernel_pkeys;  /* a trial pkey_alloc(2) succeeded */
	int kernel_errno;  /* errno of that trial when it failed */
	const char *backend;
	const char *reason;
	int keys_total;	   /* keys the backend has, key 0 included */
	int keys_available;
	const char *guarantee; /* the backend's enforcement in one line */
	/*
	 * The kernel can trap the instruction by which programs read the
	 * CPU's features, which an emulation would need to show a program
	 * keys the CPU lacks; 0 where it cannot, and on CPUs whose programs
	 * learn their features otherwise (POWER: the auxiliary vector).
	 */
	int feature_trap;
	void *spare[3];	   /* zeroed: room for later fields */
};

/* Fill *out.  Returns 0 (never fails once out is non-NULL; -EINVAL). */
PK_API int pk_info(struct pk_info *out);

#ifdef __cplusplus
}
#endif
#endif /* PKEYS_H */
