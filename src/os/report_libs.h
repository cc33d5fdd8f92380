/* SPDX-License-Identifier: MIT */
/*
 * The libraries the fault report uses: libgcc's unwinder for its
 * backtrace (os/backtrace.c) and, where the build has it, libdw for its
 * source lines (os/srcline.c).  Reached two ways, one file each:
 *   - os/report_libs_linked.c, in the static library: linked in, as a
 *     static program has no loader to ask;
 *   - os/report_libs_loaded.c, in the shared libraries: loaded when a
 *     report is first readied, so that a process that never readies one
 *     (under `pkeys run`, every process of a build that uses no key)
 *     does not load them at start.  Measured here: libgcc_s 0.2 ms and
 *     libdw with its own libraries 1 ms of CPU per process of `git
 *     status`.
 */
#ifndef PK_OS_REPORT_LIBS_H
#define PK_OS_REPORT_LIBS_H

#if PKEYS_HAVE_UNWIND
#include <unwind.h>
#endif
#if PKEYS_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#endif

/* Each member NULL where its library is not there. */
struct pk__report_libs {
#if PKEYS_HAVE_UNWIND
	__typeof__(_Unwind_Backtrace) *backtrace;
	__typeof__(_Unwind_GetIP) *get_ip;
#endif
#if PKEYS_HAVE_LIBDW
	__typeof__(dwfl_begin) *begin;
	__typeof__(dwfl_linux_proc_report) *proc_report;
	__typeof__(dwfl_report_end) *report_end;
	__typeof__(dwfl_addrmodule) *addrmodule;
	__typeof__(dwfl_module_getsrc) *module_getsrc;
	__typeof__(dwfl_lineinfo) *lineinfo;
	__typeof__(dwfl_end) *end;
	__typeof__(dwfl_linux_proc_find_elf) *find_elf;
	__typeof__(dwfl_standard_find_debuginfo) *find_debuginfo;
#endif
	int unused; /* a member in every build */
};

/*
 * The libraries' entry points; loads them on the first call, which must
 * not be in a signal handler.  Never NULL.
 */
const struct pk__report_libs *pk__report_libs_load(void);
/*
 * What pk__report_libs_load found, without loading: NULL before it has
 * run.  Async-signal-safe.
 */
const struct pk__report_libs *pk__report_libs_loaded(void);

#endif
