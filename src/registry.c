/*
 * The registry of keyed ranges: a sorted array searched by bisection.
 * Lookups are O(log n); an update moves the tail of the array, which is
 * cheap next to the system call that always comes with it.
 *
 * The array lives in memory mapped with raw system calls, not malloc:
 * the registry is updated from the munmap/mmap interposers, and an
 * allocator that maps memory through those functions would otherwise
 * re-enter itself.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

struct pk__range *pk__reg;
size_t pk__reg_n;
static size_t cap;

int pk__reg_reserve(size_t extra)
{
	size_t want = pk__reg_n + extra, ncap, bytes;
	void *p;

	if (want <= cap)
		return 0;
	ncap = cap ? cap * 2 : 256;
	while (ncap < want)
		ncap *= 2;
	bytes = ncap * sizeof(*pk__reg);
	if (pk__reg)
		p = (void *)syscall(SYS_mremap, pk__reg, cap * sizeof(*pk__reg),
				    bytes, MREMAP_MAYMOVE);
	else
		p = (void *)syscall(SYS_mmap, NULL, bytes,
				    PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	pk__reg = p;
	cap = ncap;
	return 0;
}

size_t pk__reg_lower(uintptr_t addr)
{
	size_t lo = 0, hi = pk__reg_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pk__reg[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct pk__range *pk__reg_find(uintptr_t addr)
{
	size_t i = pk__reg_lower(addr);

	if (i < pk__reg_n && pk__reg[i].start <= addr)
		return &pk__reg[i];
	return NULL;
}

int pk__reg_overlaps(uintptr_t start, uintptr_t end)
{
	size_t i = pk__reg_lower(start);

	return start < end && i < pk__reg_n && pk__reg[i].start < end;
}

static void insert_at(size_t i, struct pk__range r)
{
	memmove(&pk__reg[i + 1], &pk__reg[i],
		(pk__reg_n - i) * sizeof(*pk__reg));
	pk__reg[i] = r;
	__atomic_store_n(&pk__reg_n, pk__reg_n + 1, __ATOMIC_RELAXED);
}

static void remove_span(size_t i, size_t count)
{
	memmove(&pk__reg[i], &pk__reg[i + count],
		(pk__reg_n - i - count) * sizeof(*pk__reg));
	__atomic_store_n(&pk__reg_n, pk__reg_n - count, __ATOMIC_RELAXED);
}

/* Make addr a boundary: no range starts before and ends after it. */
static void split_at(uintptr_t addr)
{
	size_t i = pk__reg_lower(addr);
	struct pk__range r;

	if (i == pk__reg_n || pk__reg[i].start >= addr)
		return;
	r = pk__reg[i];
	pk__reg[i].end = addr;
	r.start = addr;
	insert_at(i + 1, r);
}

/* Remove [start,end) and return the index where it would go. */
static size_t cut(uintptr_t start, uintptr_t end)
{
	size_t i, j;

	split_at(start);
	split_at(end);
	i = pk__reg_lower(start);
	for (j = i; j < pk__reg_n && pk__reg[j].end <= end; j++)
		;
	remove_span(i, j - i);
	return i;
}

static int same(const struct pk__range *a, const struct pk__range *b)
{
	return a->end == b->start && a->key == b->key && a->prot == b->prot;
}

/* Merge equal neighbours among the ranges with index in [lo, hi]. */
static void merge(size_t lo, size_t hi)
{
	size_t i;

	if (lo > 0)
		lo--;
	for (i = lo; i + 1 < pk__reg_n && i <= hi;) {
		if (same(&pk__reg[i], &pk__reg[i + 1])) {
			pk__reg[i].end = pk__reg[i + 1].end;
			remove_span(i + 1, 1);
			if (hi > 0)
				hi--;
		} else {
			i++;
		}
	}
}

void pk__reg_assign(uintptr_t start, uintptr_t end, int key, int prot)
{
	size_t i = cut(start, end);

	if (key > 0) {
		insert_at(i, (struct pk__range){start, end, key, prot});
		merge(i, i + 1);
	} else {
		merge(i, i);
	}
}

void pk__reg_set_prot(uintptr_t start, uintptr_t end, int prot)
{
	size_t i, j;

	split_at(start);
	split_at(end);
	i = pk__reg_lower(start);
	for (j = i; j < pk__reg_n && pk__reg[j].end <= end; j++)
		pk__reg[j].prot = prot;
	merge(i, j);
}

int pk__reg_key_in_use(int key)
{
	for (size_t i = 0; i < pk__reg_n; i++)
		if (pk__reg[i].key == key)
			return 1;
	return 0;
}

int pk__reg_move(uintptr_t old, size_t oldlen, uintptr_t new_addr,
		 size_t newlen)
{
	size_t keep = oldlen < newlen ? oldlen : newlen, i, j, k, n;
	struct pk__range *moved = NULL, tail = {0, 0, 0, 0};
	const struct pk__range *last;
	size_t bytes = 0;
	int rc;

	/*
	 * The kernel grows a mapping with the flags, key included, of its
	 * last page, so a keyed last page means the new pages are keyed too.
	 */
	last = oldlen ? pk__reg_find(old + oldlen - 1) : NULL;
	if (last && newlen > oldlen)
		tail = *last;

	/* Room for every moved range plus the splits made on the way. */
	for (j = pk__reg_lower(old); j < pk__reg_n && pk__reg[j].start < old + keep; j++)
		;
	rc = pk__reg_reserve(j - pk__reg_lower(old) + 8);
	if (rc)
		return rc;
	split_at(old);
	split_at(old + keep);
	i = pk__reg_lower(old);
	for (j = i; j < pk__reg_n && pk__reg[j].end <= old + keep; j++)
		;
	n = j - i;
	if (n) {
		bytes = n * sizeof(*moved);
		moved = (void *)syscall(SYS_mmap, NULL, bytes,
					PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (moved == MAP_FAILED)
			return -ENOMEM;
		memcpy(moved, &pk__reg[i], bytes);
	}
	cut(old, old + oldlen);
	cut(new_addr, new_addr + newlen);
	for (k = 0; k < n; k++) {
		struct pk__range r = moved[k];
		pk__reg_assign(r.start - old + new_addr, r.end - old + new_addr,
			       r.key, r.prot);
	}
	if (tail.key)
		pk__reg_assign(new_addr + oldlen, new_addr + newlen, tail.key,
			       tail.prot);
	if (moved)
		syscall(SYS_munmap, moved, bytes);
	return 0;
}
