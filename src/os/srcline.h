/* SPDX-License-Identifier: MIT */
/*
 * Source lines for the fault report's backtrace (os/srcline.c), from
 * debug information, where the library was built with libdw.
 */
#ifndef PK_OS_SRCLINE_H
#define PK_OS_SRCLINE_H

/*
 * After the backtrace: "pkeys: source lines:" and "  #N FILE:LINE" for
 * each frame the debug information places (the first frame exact when
 * exact_first, the others return addresses).  Nothing when the build
 * has no libdw, no frame has debug information, or the lookup does not
 * finish within two seconds.  Callable from a SIGSEGV handler (see the
 * file for how).
 */
void pk__srclines_print(int fd, void *const *frames, int n, int exact_first);

#endif
