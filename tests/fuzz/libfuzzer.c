/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer's entry to the fuzzer's driver (driver.h): each input is one
 * episode, its bytes the choices.  A divergence aborts, so libFuzzer
 * keeps the input.  Built by `make fuzz-libfuzzer` (clang):
 *
 *   ./build/pkfuzz_libfuzzer -max_total_time=600 corpus/
 */
#include <stdint.h>
#include <stdlib.h>

#include "driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkf_src src = {.data = data, .len = size};
	struct pkf_stats st = {0, 0};

	if (pkf_episode(&src, 4000, &st))
		abort();
	return 0;
}
