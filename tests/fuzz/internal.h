/* SPDX-License-Identifier: MIT */
/* What the driver (driver.c) and the calls it makes (ops.c) share. */
#ifndef PKF_INTERNAL_H
#define PKF_INTERNAL_H

#include <stddef.h>

#include "driver.h"
#include "model.h"

/* The episode under way. */
extern struct pkf_model pkf_m;
extern char *pkf_base; /* the arena: PKF_PAGES pages */
extern size_t pkf_pg;
extern struct pkf_stats *pkf_st;

/* A choice from the byte source: 0 to n-1. */
unsigned pkf_pick(unsigned n);
/* Record the call about to be made, for the report of a divergence. */
void pkf_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report a divergence from the model; returns 1. */
int pkf_diverged(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Make one fuzzed call and compare its result with the model's: 0 when
 * they agree, 1 on a divergence. */
int pkf_one_call(void);
/* Leave the domain, destroy the heap: what the teardown needs first. */
int pkf_ops_teardown(void);
/* One call on the episode's pk_heap (ops_heap.c), and its destruction. */
int pkf_heap_call(void);
int pkf_heap_teardown(void);

/* Test hook of libpkeys: the nth protection system call from now fails. */
void pk__test_fail_protect(int nth, int err);

#endif
