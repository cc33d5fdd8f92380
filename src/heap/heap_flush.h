/* SPDX-License-Identifier: MIT */
/* The heap's flush sentinel (src/heap/heap_flush.c explains it). */
#ifndef PKEYS_HEAP_FLUSH_H
#define PKEYS_HEAP_FLUSH_H

/*
 * Pages between a heap's last page and its sentinel: the changed span
 * then exceeds the 33 pages up to which x86 Linux invalidates TLB
 * entries one by one, wherever the heap's resident pages are.
 */
#define HEAP_SENTINEL_GAP 33

/*
 * A heap keeps a sentinel while its pages in use reach from
 * HEAP_SENTINEL_FROM to HEAP_SENTINEL_GAP; it drops it below half the
 * first or above HEAP_SENTINEL_DROP.
 */
#define HEAP_SENTINEL_FROM 8
#define HEAP_SENTINEL_DROP 48

/*
 * 1 when a sentinel makes closing a key cheaper on this machine
 * (measured once per process, or PKEYS_HEAP_SENTINEL=0/1).  Thread-safe.
 */
int pk__heap_sentinel_pays(void);

#endif
