/* SPDX-License-Identifier: MIT */
/*
 * Backtraces for the fault report (os/backtrace.c), on glibc and musl
 * alike, without stdio or malloc: usable in a SIGSEGV handler.
 */
#ifndef PK_OS_BACKTRACE_H
#define PK_OS_BACKTRACE_H

/*
 * The calling thread's return addresses, innermost first, at most max;
 * none until pk__backtrace_warm has run, which finds the unwinder
 * (os/report_libs.h) and unwinds once (its first unwind may allocate).
 * Async-signal-safe.
 */
int pk__backtrace(void **frames, int max);
void pk__backtrace_warm(void);
/*
 * One line per frame on fd: "  #N ADDRESS FUNCTION+OFFSET (OBJECT)",
 * the function found in the object's symbol table, its full one where
 * the file still has it (no -rdynamic needed), else the dynamic one;
 * the bare address when neither names it.  Frames are return
 * addresses (the call is the instruction before), except the first
 * when exact_first: the faulting instruction itself.
 * Async-signal-safe.
 */
void pk__backtrace_print(int fd, void *const *frames, int n, int exact_first);
/*
 * A fault report's backtrace, from a SIGSEGV handler: "pkeys:
 * backtrace:" and the frames from the faulting instruction ip on (the
 * handler's own left out), then their source lines where the build has
 * them (os/srcline.h).  Async-signal-safe as the above.
 */
void pk__backtrace_report(int fd, void *ip);

#endif
