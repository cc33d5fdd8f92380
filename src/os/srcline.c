/* SPDX-License-Identifier: MIT */
/*
 * Source lines for the fault report, from the debug information through
 * libdw (elfutils), where the library was built with it.
 *
 * libdw allocates memory and takes locks, which a SIGSEGV handler must
 * not: the faulting code may hold malloc's lock.  So the lookup runs in
 * a child process, a copy of the faulting one made with a bare clone
 * (no fork handlers: the library's own take its lock), which reads its
 * own mappings, the same as the parent's.  The handler waits for it at
 * most two seconds and kills it if it hangs (on a lock held at the
 * fault, say); the report then has no source lines, nothing worse.
 */
#include "os/report_libs.h"
#include "os/sigaction.h"
#include "os/srcline.h"

#if PKEYS_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void lookup(const struct pk__report_libs *dw, int fd,
		   void *const *frames, int n, int exact_first)
{
	const Dwfl_Callbacks cb = {
		.find_elf = dw->find_elf,
		.find_debuginfo = dw->find_debuginfo,
	};
	Dwfl *d = dw->begin(&cb);
	int said = 0;

	if (!d)
		return;
	if (dw->proc_report(d, getpid()) == 0 &&
	    dw->report_end(d, NULL, NULL) == 0) {
		for (int i = 0; i < n; i++) {
			/* A return address: the call is the byte before it. */
			Dwarf_Addr a = (uintptr_t)frames[i] -
				       !(exact_first && i == 0);
			Dwfl_Module *m = dw->addrmodule(d, a);
			Dwfl_Line *l = m ? dw->module_getsrc(m, a) : NULL;
			const char *file;
			int line = 0;

			file = l ? dw->lineinfo(l, NULL, &line, NULL, NULL, NULL)
				 : NULL;
			if (!file)
				continue;
			if (!said++)
				dprintf(fd, "pkeys: source lines:\n");
			dprintf(fd, "  #%d %s:%d\n", i, file, line);
		}
	}
	dw->end(d);
}

void pk__srclines_print(int fd, void *const *frames, int n, int exact_first)
{
	/* Loaded when the report was readied (os/report_libs.h). */
	const struct pk__report_libs *dw = pk__report_libs_loaded();
	struct timespec tick = {0, 10 * 1000 * 1000};
	int status;
	long pid;

	if (n <= 0 || !dw || !dw->begin)
		return;
	pid = syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
	if (pid == 0) {
		/* A fault here ends the copy, not a second report. */
		struct sigaction dfl = {.sa_handler = SIG_DFL};

		pk__sigaction_real(SIGSEGV, &dfl, NULL);
		lookup(dw, fd, frames, n, exact_first);
		_exit(0);
	}
	if (pid < 0)
		return;
	for (int i = 0; i < 200; i++) {
		if (waitpid((pid_t)pid, &status, WNOHANG) == (pid_t)pid)
			return;
		nanosleep(&tick, NULL);
	}
	kill((pid_t)pid, SIGKILL);
	waitpid((pid_t)pid, &status, 0);
}
#else
/* Built without libdw: function names only (os/backtrace.c). */
void pk__srclines_print(int fd, void *const *frames, int n, int exact_first)
{
	(void)fd;
	(void)frames;
	(void)n;
	(void)exact_first;
}
#endif
