/* SPDX-License-Identifier: MIT */
/*
 * A shared library that knows nothing of pkeys: linked against libc
 * only, so its calls reach the library's interposers through symbol
 * lookup alone, as those of any third-party library would.
 */
#include <stddef.h>
#include <sys/mman.h>

int pkt_other_munmap(void *addr, size_t len)
{
	return munmap(addr, len);
}

int pkt_other_mprotect(void *addr, size_t len, int prot)
{
	return mprotect(addr, len, prot);
}

/* A write from another object, in a function no dynamic symbol names
 * (test_fault_report_library finds it in the library's own table). */
static void __attribute__((noinline)) other_store(char *p)
{
	*(volatile char *)p = 1;
	__asm__ volatile("" ::: "memory"); /* not a tail call */
}

void pkt_other_touch(char *p)
{
	other_store(p);
	__asm__ volatile("" ::: "memory");
}
