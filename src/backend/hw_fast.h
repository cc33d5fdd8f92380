/* SPDX-License-Identifier: MIT */
/*
 * pk_get's fast path on the hardware backend (api/keys.c), inlined so
 * that reading a resident key's rights costs a load, the register read
 * and a compare, with no call through the backend table.  The table it
 * reads is the hardware backend's (backend/hw.c); it stays all zero
 * while another backend is in use, and then the answer is "ask the
 * backend".
 */
#ifndef PK_BACKEND_HW_FAST_H
#define PK_BACKEND_HW_FAST_H

#include <stdint.h>
#include <sys/syscall.h>

#include "arch/arch.h"
#include "core/rights.h"
#include "core/seal.h"
#include "core/threads.h"

#if PK__ARCH_KEYS && defined(SYS_pkey_alloc)
/*
 * Per key: its hardware key in the low PK__HW_SLOT_BITS (0: none) and
 * the number of its binding above, so that a reader can tell "same
 * hardware key as before" from "moved out and back in meanwhile".
 */
#define PK__HW_SLOT_BITS 8
#define PK__HW_SLOT_MASK ((1 << PK__HW_SLOT_BITS) - 1)
struct pk__hw_bindings {
	int slot_of[PK__KEYS];
	int owner[PK__ARCH_HW_KEYS]; /* hardware key -> key (0: nobody) */
	unsigned bindings;	     /* the last binding number given */
	uint64_t pool;		     /* hardware keys the library holds */
	/* Set once some key is evicted: until then nothing moves, and the
	 * hot path need not count uses (a program within the hardware's
	 * keys). */
	unsigned char evictions;
};
/* Sealed (core/seal.h): written only when keys move, under the lock. */
extern union pk__hw_block {
	struct pk__hw_bindings b;
	char pad[PK__SEAL_SIZE(struct pk__hw_bindings)];
} pk__hw_block __attribute__((visibility("hidden")));
#define pk__hw_slot_of (pk__hw_block.b.slot_of)

/*
 * The calling thread's rights for key (1 to PK__KEYS-1) into *rights,
 * and 1; or 0 when key holds no hardware key, or where signal handlers
 * keep the thread's rights (the record answers there, backend get).
 * The register is read between two reads of the key's entry: a move in
 * between may have rebuilt the register for the hardware key's next
 * owner, and the entry then differs (a move clears it before its first
 * sync round reaches this thread), also when the key came back to the
 * same hardware key (a new binding number).  A key's entry names a
 * hardware key only once every register holds its bits.
 */
static inline int pk__hw_get_resident_at(const int *e, int *rights)
{
	pk__arch_reg v;
	int entry;

	if (!PK__ARCH_HANDLER_RESETS)
		return 0;
	do {
		entry = __atomic_load_n(e, __ATOMIC_RELAXED);
		if (!entry)
			return 0;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		v = pk__arch_read();
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
	} while (__builtin_expect(__atomic_load_n(e, __ATOMIC_RELAXED) != entry,
				  0));
	/* The binding number starts at a multiple of the key count. */
	_Static_assert((1 << PK__HW_SLOT_BITS) % PK__ARCH_HW_KEYS == 0,
		       "slot bits hold whole hardware key numbers");
	*rights = (int)pk__arch_rights_mod(v, (unsigned)entry);
	return 1;
}

static inline int pk__hw_get_resident(int key, int *rights)
{
	return pk__hw_get_resident_at(&pk__hw_slot_of[key], rights);
}

/* The same for key i + 1, i checked (pk_get): a free index, no sign
 * extension. */
static inline int pk__hw_get_resident_index(unsigned i, int *rights)
{
	return pk__hw_get_resident_at(&pk__hw_slot_of[1] + i, rights);
}

typedef pk__arch_reg pk__hw_reg;

/*
 * Setting several keys without the lock (domains: api/domain.c).  It
 * applies while no key has ever lacked a hardware key: then no key has
 * moved, and keys only move after some key lacked one.  Steps:
 * pk__hw_unmoved(); pk__hw_slot() per key (0: not resident, take the
 * backend's set_many); write the thread's record; pk__hw_apply().
 */
static inline int pk__hw_unmoved(void)
{
	return pk__arch_exact() &&
	       !__atomic_load_n(&pk__hw_block.b.evictions, __ATOMIC_RELAXED);
}

/* Key's hardware key, 0 if none. */
static inline int pk__hw_slot(int key)
{
	return __atomic_load_n(&pk__hw_slot_of[key], __ATOMIC_RELAXED) &
	       PK__HW_SLOT_MASK;
}

/* The register's bits giving hardware key hw rights. */
static inline pk__hw_reg pk__hw_bits(int hw, unsigned rights)
{
	return pk__arch_bits(hw, rights);
}

void pk__hw_reload(struct pk__thread *t) __attribute__((visibility("hidden")));

/* Marks key used now, for the choice of a key to evict (backend/hw.c). */
void pk__hw_touch(int key) __attribute__((visibility("hidden")));

/*
 * pk_set's hot path, inlined in api/keys.c so that no call goes through
 * the backend table (on POWER such a call also saves and restores the
 * TOC pointer): key (1 to PK__KEYS-1, rights valid) holds a hardware
 * key.  Returns 0, or 1 with nothing changed: the locked path decides.
 * lru: mark the key used (it may be evicted some day); without it, the
 * call gives up once some key has been evicted.
 * The key's entry is read twice, around the record's write: a move
 * that takes the key's hardware key writes the entry before its first
 * sync round, and reads the union of rights after it.  So either the
 * second read sees the move (the record goes back, the locked path
 * takes over), or the move sees the new record.  The register write
 * then needs only the sync count: a round whose handler ran meanwhile
 * rebuilt the register from the record, and it is rebuilt again.
 */
static inline int pk__hw_set_key(int key, unsigned rights, int lru)
{
	struct pk__thread *t = pk__thread_state;
	int entry = __atomic_load_n(&pk__hw_slot_of[key], __ATOMIC_RELAXED);
	int hw = entry & PK__HW_SLOT_MASK;
	unsigned seq;
	uint8_t old;

	if (__builtin_expect(!t || !hw || !(lru ? pk__arch_exact()
						  : pk__hw_unmoved()),
			     0))
		return 1;
	old = __atomic_load_n(&t->rights[key], __ATOMIC_RELAXED);
	__atomic_store_n(&t->rights[key], (uint8_t)rights, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	seq = __atomic_load_n(&t->sync_seq, __ATOMIC_RELAXED);
	if (__builtin_expect(__atomic_load_n(&pk__hw_slot_of[key],
					     __ATOMIC_RELAXED) != entry,
			     0)) {
		__atomic_store_n(&t->rights[key], old, __ATOMIC_RELAXED);
		return 1;
	}
	if (lru && __atomic_load_n(&pk__hw_block.b.evictions, __ATOMIC_RELAXED))
		pk__hw_touch(key);
	pk__arch_update(pk__arch_bits(hw, PK__RIGHTS_MASK),
			pk__arch_bits(hw, rights));
	/* The count is this thread's handler's (backend/hw.c rebuild):
	 * ordered with its own code by compiler barriers alone. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(seq != __atomic_load_n(&t->sync_seq,
						    __ATOMIC_RELAXED),
			     0))
		pk__hw_reload(t);
	return 0;
}

/*
 * pk_set's: no call at all while no key has ever lacked a hardware key
 * (then keys never move, and which one to evict is never asked).
 */
static inline int pk__hw_set_resident(int key, unsigned rights)
{
	return pk__hw_set_key(key, rights, 0);
}

/*
 * After a fast path put back records it had written and gave up: a
 * sync round in between (another thread's pk_set_all, a key's move)
 * may have rebuilt the register from the records it had written.  seq
 * is t->sync_seq as read before the first write; pass seq + 1 when it
 * was not read (the register is then rebuilt in any case).
 */
static inline void pk__hw_put_back(struct pk__thread *t, unsigned seq)
{
	if (seq != __atomic_load_n(&t->sync_seq, __ATOMIC_ACQUIRE))
		pk__hw_reload(t);
}

/*
 * After the record's write: the register changes, or 1 when some key
 * has lacked a hardware key meanwhile (nothing written: the caller puts
 * the record back and takes the locked path).  The first eviction sets
 * the flag before it takes any key's hardware key, then runs a sync
 * round: if this thread's handler has not run by the flag's read, the
 * mover reads the record after it (as pk_set, backend/hw.c set()).
 * A round whose handler ran since the record's write rebuilt the
 * register from it: the count says so, and it is rebuilt again.
 */
static inline int pk__hw_apply(struct pk__thread *t, pk__arch_reg clear,
			       pk__arch_reg set)
{
	unsigned seq;

	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	seq = __atomic_load_n(&t->sync_seq, __ATOMIC_RELAXED);
	if (__builtin_expect(
		    __atomic_load_n(&pk__hw_block.b.evictions, __ATOMIC_RELAXED),
		    0))
		return 1;
	pk__arch_update(clear, set);
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* as pk__hw_set_resident */
	if (__builtin_expect(seq != __atomic_load_n(&t->sync_seq,
						    __ATOMIC_RELAXED),
			     0))
		pk__hw_reload(t);
	return 0;
}
#else
static inline int pk__hw_get_resident(int key, int *rights)
{
	(void)key;
	(void)rights;
	return 0;
}

static inline int pk__hw_get_resident_index(unsigned i, int *rights)
{
	(void)i;
	(void)rights;
	return 0;
}

typedef unsigned long pk__hw_reg;
static inline int pk__hw_unmoved(void)
{
	return 0;
}

static inline int pk__hw_slot(int key)
{
	(void)key;
	return 0;
}

static inline pk__hw_reg pk__hw_bits(int hw, unsigned rights)
{
	(void)hw;
	(void)rights;
	return 0;
}

static inline int pk__hw_apply(struct pk__thread *t, pk__hw_reg clear,
			       pk__hw_reg set)
{
	(void)t;
	(void)clear;
	(void)set;
	return 1;
}

static inline void pk__hw_put_back(struct pk__thread *t, unsigned seq)
{
	(void)t;
	(void)seq;
}

static inline int pk__hw_set_resident(int key, unsigned rights)
{
	(void)key;
	(void)rights;
	return 1;
}
#endif

#endif
