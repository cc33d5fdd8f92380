/* SPDX-License-Identifier: MIT */
/*
 * What tests/cli/scan.sh runs `pkeys scan` on: x86-64 code with each kind
 * of sequence the scanner must find, one hidden in another instruction's
 * immediate, an LFENCE (0F AE E8, not an XRSTOR), and the same bytes in
 * read-only data, which it must not report.  With an argument it waits
 * to be scanned as a running process (--pid).
 */
#include <unistd.h>

__attribute__((noinline, used)) void has_wrpkru(void)
{
	__asm__ volatile(".byte 0x0f, 0x01, 0xef" ::: "memory"); /* never run */
}

__attribute__((noinline, used)) unsigned hidden_in_immediate(void)
{
	unsigned v;

	__asm__ volatile("movl $0x00ef010f, %0" : "=r"(v));
	return v;
}

__attribute__((noinline, used)) void has_xrstor(void *area)
{
	__asm__ volatile("xrstor (%0)" ::"r"(area), "a"(0), "d"(0) : "memory");
}

__attribute__((noinline, used)) void has_xrstor64(void *area)
{
	__asm__ volatile("xrstor64 (%0)" ::"r"(area), "a"(0), "d"(0) : "memory");
}

__attribute__((noinline, used)) void has_lfence(void)
{
	__asm__ volatile("lfence" ::: "memory");
}

static const unsigned char in_data[] = {0x0f, 0x01, 0xef, 0x0f, 0xae, 0x2f};

int main(int argc, char **argv)
{
	volatile const unsigned char *d = in_data;

	(void)argv;
	has_lfence();
	if (argc > 1)
		pause();
	return d[0] == 0x0f && hidden_in_immediate() ? 0 : 1;
}
