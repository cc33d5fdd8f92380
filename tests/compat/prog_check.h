/* SPDX-License-Identifier: MIT */
/*
 * CHECK for the stand-alone programs of tests/compat/, which are built
 * against glibc alone (no test framework, no pkeys header): a failed
 * check prints its line and counts; the program decides its exit.
 */
#ifndef PKEYS_TESTS_PROG_CHECK_H
#define PKEYS_TESTS_PROG_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			printf("FAIL line %d: %s\n", __LINE__, #cond);     \
			failures++;                                        \
		}                                                          \
	} while (0)

#endif
