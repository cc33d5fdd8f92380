#include <unistd.h>

#include "arch/arch.h"
#include "os/page.h"

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

uintptr_t pk__user_end(void)
{
	static uintptr_t end;
	uintptr_t e = __atomic_load_n(&end, __ATOMIC_RELAXED);

	/* The CPU's answer may cost a trap to the hypervisor: ask once. */
	if (!e) {
		e = pk__arch_user_end(pk__page_size());
		__atomic_store_n(&end, e, __ATOMIC_RELAXED);
	}
	return e;
}
