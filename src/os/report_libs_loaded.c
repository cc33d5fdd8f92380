/* SPDX-License-Identifier: MIT */
/*
 * The report's libraries loaded when first needed (os/report_libs.h):
 * the shared libraries' way.  dlopen finds a library at once where the
 * program has it already (libgcc_s in C++ programs, or in glibc's after
 * pthread_cancel).  Each is kept loaded for good: reports may come
 * until exit.  One missing leaves its members NULL, nothing worse.
 */
#include <dlfcn.h>
#include <pthread.h>

#include "os/report_libs.h"

static struct pk__report_libs found;
static const struct pk__report_libs *ready;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Every name of names from lib into the pointers at to, or none. */
__attribute__((unused)) static void take(const char *lib, const char *const *names, void **to,
		 int n)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	int i;

	for (i = 0; h && i < n && (to[i] = dlsym(h, names[i])); i++)
		;
	if (i < n)
		for (i = 0; i < n; i++)
			to[i] = NULL;
}

static void load(void)
{
#if PKEYS_HAVE_UNWIND
	static const char *const unwind[] = {"_Unwind_Backtrace",
					     "_Unwind_GetIP"};
	void *u[2];

	take("libgcc_s.so.1", unwind, u, 2);
	*(void **)&found.backtrace = u[0];
	*(void **)&found.get_ip = u[1];
#endif
#if PKEYS_HAVE_LIBDW
	static const char *const dw[] = {
		"dwfl_begin",	     "dwfl_linux_proc_report",
		"dwfl_report_end",   "dwfl_addrmodule",
		"dwfl_module_getsrc", "dwfl_lineinfo",
		"dwfl_end",	     "dwfl_linux_proc_find_elf",
		"dwfl_standard_find_debuginfo"};
	void *d[9];

	take("libdw.so.1", dw, d, 9);
	*(void **)&found.begin = d[0];
	*(void **)&found.proc_report = d[1];
	*(void **)&found.report_end = d[2];
	*(void **)&found.addrmodule = d[3];
	*(void **)&found.module_getsrc = d[4];
	*(void **)&found.lineinfo = d[5];
	*(void **)&found.end = d[6];
	*(void **)&found.find_elf = d[7];
	*(void **)&found.find_debuginfo = d[8];
#endif
	__atomic_store_n(&ready, &found, __ATOMIC_RELEASE);
}

const struct pk__report_libs *pk__report_libs_load(void)
{
	pthread_once(&once, load);
	return __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
}

const struct pk__report_libs *pk__report_libs_loaded(void)
{
	return __atomic_load_n(&ready, __ATOMIC_ACQUIRE);
}
