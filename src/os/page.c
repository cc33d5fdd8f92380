/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/arch.h"
#include "os/page.h"
#include "os/sys.h"

size_t pk__page_size(void)
{
	static size_t page;
	size_t p = __atomic_load_n(&page, __ATOMIC_RELAXED);

	/* Racing first calls store the same value. */
	if (!p) {
		p = (size_t)sysconf(_SC_PAGESIZE);
		__atomic_store_n(&page, p, __ATOMIC_RELAXED);
	}
	return p;
}

/*
 * Whether the kernel takes addr as a user address: a one-page mapping
 * there that replaces nothing.  It either lands (removed again), or
 * meets a mapping (EEXIST: user space reaches there), or is refused
 * (ENOMEM: beyond the task's size).  A kernel older than
 * MAP_FIXED_NOREPLACE (4.17) treats addr as a hint and may put the page
 * elsewhere: then it is not proof.  Raw system calls: the emulation's
 * interposed mmap must not see this page.
 */
static int kernel_maps(uintptr_t addr, size_t page)
{
	long p = pk__syscall(SYS_mmap, addr, page, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
			 0);

	if (p == -1)
		return errno == EEXIST;
	pk__syscall(SYS_munmap, p, page);
	return (uintptr_t)p == addr;
}

uintptr_t pk__user_end(void)
{
	static uintptr_t end;
	uintptr_t e = __atomic_load_n(&end, __ATOMIC_RELAXED), narrow, wide;
	size_t page = pk__page_size();
	int saved = errno;

	/* Racing first calls store the same value. */
	if (!e) {
		pk__arch_user_ends(page, &narrow, &wide);
		e = wide != narrow && kernel_maps(narrow + page, page) ? wide
								      : narrow;
		errno = saved;
		__atomic_store_n(&end, e, __ATOMIC_RELAXED);
	}
	return e;
}
