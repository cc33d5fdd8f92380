/* SPDX-License-Identifier: MIT */
/*
 * The fuzzer's driver: random sequences of public calls, each checked
 * against the reference model (model.h), and the whole state checked
 * after every step.  The choices come from a byte source: a seeded
 * generator (pkfuzz) or libFuzzer's input (libfuzzer.c), so one driver
 * serves both.
 */
#ifndef PKF_DRIVER_H
#define PKF_DRIVER_H

#include <stddef.h>
#include <stdint.h>

struct pkf_src {
	const uint8_t *data; /* libFuzzer's input, or NULL: use rng */
	size_t len, pos;
	uint64_t rng;
	int ended; /* the input ran out */
};

struct pkf_stats {
	long calls;  /* fuzzed library calls made */
	long checks; /* library calls made to check the state */
};

/*
 * Run one episode: set up the arena, make up to steps calls (or until
 * the input runs out), then take everything down and check that no key
 * was lost.  Returns 0 when every result and every check matched the
 * model; 1 after printing the divergence, the step and the calls that
 * led to it to stderr; 2 when the episode could not start.
 */
int pkf_episode(struct pkf_src *src, long steps, struct pkf_stats *st);

#endif
