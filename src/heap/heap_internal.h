/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of pk_heap: heap.c (the API, the reservation,
 * fork), heap_pages.c (pages, slabs, allocating and freeing),
 * heap_classes.c (the size classes) and heap_check.c (reports,
 * canaries, what a pointer is), all in src/heap/.  The design is
 * described at the top of heap.c.
 */
#ifndef PKEYS_HEAP_INTERNAL_H
#define PKEYS_HEAP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <pkeys/heap.h>

#define NONE	  UINT32_MAX
#define CANARY	  16u
#define MAX_SMALL 2048u
#define NCLASS	  22
#define KNOWN_FLAGS                                                            \
	(PK_HEAP_MLOCK | PK_HEAP_GUARD_PAGES | PK_HEAP_CANARIES |              \
	 PK_HEAP_ABORT | PK_HEAP_NO_GUARD_PAGES | PK_HEAP_NO_CANARIES |         \
	 PK_HEAP_MLOCK_STRICT)

/* Sizes are multiples of 16, so every slot is 16-byte aligned. */
extern const uint16_t pk__heap_class_size[NCLASS];
/* pk__heap_class_of[(size + 15) / 16]: the smallest class that holds size. */
extern uint8_t pk__heap_class_of[MAX_SMALL / 16 + 1];
/* Fills pk__heap_class_of; once per process (pthread_once). */
void pk__heap_classes_init(void);

/*
 * The freed kinds are free pages that remember what they held, so that
 * a second free of a block there is recognised as a double free until
 * the page is reused.  Kinds from P_SLAB on are in use.
 */
enum page_kind {
	P_FREE = 0,	   /* unused, in the pool or above top */
	P_FREED_LARGE = 1, /* in the pool; was the head of a large block */
	P_FREED_SLAB = 2,  /* in the pool; was a slab of class cls */
	P_SLAB = 3,
	P_LARGE = 4, /* the first page of a large block */
	P_LARGE_TAIL = 5,
};

struct page {
	uint8_t kind;
	uint8_t cls;
	uint16_t used;	     /* slab: live slots */
	uint32_t next, prev; /* slab: the class's slabs with free slots */
	uint32_t npages;     /* large head (and freed head): its length */
};

/* Reports: formatted under the lock, delivered after it is dropped. */
struct msg {
	char text[320];
	int set;
};

struct pk_heap {
	pthread_mutex_t lock;
	int key;
	unsigned flags; /* in force: defaults set, NO_ forms cleared */
	size_t locked;	/* bytes PK_HEAP_MLOCK locked, from base */
	char *base;    /* the keyed pages */
	size_t npages; /* the reservation, in pages */
	size_t page;
	unsigned shift; /* log2(page) */
	unsigned words; /* slot bitmap words per page */
	char *map;	/* base, with the guard pages if any */
	size_t map_len;
	size_t meta_len; /* this struct and the arrays below */
	struct page *pages;
	uint64_t *slots;  /* words per page: bit set = slot in use */
	uint64_t *pool;	  /* bit per page below top: set = free */
	size_t top;	  /* pages [0, top) have been used */
	size_t high;	  /* top's highest value since the last release */
	size_t idle;	  /* about how many free pages are resident */
	size_t pool_hint; /* no pool bit below word pool_hint */
	int sentinel;	  /* 1 mapped, -1 not wanted, 0 not decided */
	uint32_t partial[NCLASS];
	uint16_t slot[NCLASS]; /* slot size: class size + canary */
	uint16_t nslots[NCLASS];
	size_t blocks, bytes, used_pages;
	uint64_t secret[2]; /* canaries derive from it */
	void (*report)(void *, const char *);
	void *report_arg;
	struct pk_heap *older, *newer; /* every heap, for fork */
	struct msg pending; /* noted under the lock, for pk__heap_unlock */
};

/* What a pointer turned out to be. */
struct block {
	size_t pg;
	unsigned slot; /* slab slot, or 0 */
	int large;
	size_t usable;
	char *addr;
};

/* Pages and slots ----------------------------------------------------- */

static inline uint64_t *slot_bits(const struct pk_heap *h, size_t pg)
{
	return h->slots + pg * h->words;
}

static inline char *page_addr(const struct pk_heap *h, size_t pg)
{
	return h->base + (pg << h->shift);
}

/* heap_pages.c: lock held.  alloc returns 0 or -ENOMEM / pk_set's error. */
int pk__heap_alloc_locked(struct pk_heap *h, size_t size, void **out);
/* Free live block b: the key is open for this thread.  Lock held. */
void pk__heap_free_locked(struct pk_heap *h, const struct block *b,
			  int damaged);

/* heap_check.c -------------------------------------------------------- */

/* Format a report into m (under the lock); deliver it after. */
void pk__heap_note(struct msg *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* bad_input: the program misused the heap (PK_HEAP_ABORT applies). */
void pk__heap_deliver(const struct pk_heap *h, const struct msg *m,
		      int bad_input);
/*
 * Write access to the key for this thread, and putting back *saved.
 * Under the heap's lock use the _locked close: a failure's report then
 * waits for pk__heap_unlock, since report callbacks run unlocked.
 */
int pk__heap_open_key(const struct pk_heap *h, int *saved);
void pk__heap_close_key(const struct pk_heap *h, int saved);
void pk__heap_close_key_locked(struct pk_heap *h, int saved);
/* Drop the heap's lock, then deliver what _locked calls noted. */
void pk__heap_unlock(struct pk_heap *h);
void pk__heap_canary_write(const struct pk_heap *h, char *at);
int pk__heap_inside(const struct pk_heap *h, const void *p);
int pk__heap_lookup(const struct pk_heap *h, const void *p, struct block *b,
		    const char **why);
int pk__heap_check_block(const struct pk_heap *h, const struct block *b,
			 const char *call, struct msg *m);

#endif
