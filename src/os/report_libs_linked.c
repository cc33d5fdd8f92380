/* SPDX-License-Identifier: MIT */
/* The report's libraries linked in (os/report_libs.h): the static way. */
#include "os/report_libs.h"

static const struct pk__report_libs linked = {
	.unused = 0,
#if PKEYS_HAVE_UNWIND
	.backtrace = _Unwind_Backtrace,
	.get_ip = _Unwind_GetIP,
#endif
#if PKEYS_HAVE_LIBDW
	.begin = dwfl_begin,
	.proc_report = dwfl_linux_proc_report,
	.report_end = dwfl_report_end,
	.addrmodule = dwfl_addrmodule,
	.module_getsrc = dwfl_module_getsrc,
	.lineinfo = dwfl_lineinfo,
	.end = dwfl_end,
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
#endif
};

const struct pk__report_libs *pk__report_libs_load(void)
{
	return &linked;
}

const struct pk__report_libs *pk__report_libs_loaded(void)
{
	return &linked;
}
