/* SPDX-License-Identifier: MIT */
/* Direct protection key system calls, trapped (compat/syscall_trap.c). */
#ifndef PK_COMPAT_SYSCALL_TRAP_H
#define PK_COMPAT_SYSCALL_TRAP_H

/*
 * Carry out trapped pkey_alloc, pkey_free and pkey_mprotect calls from
 * SIGSYS from now on; with filter, also install the seccomp filter that
 * traps them (in this process and every process it starts; without,
 * one is inherited).  The mapping calls made through syscall() are
 * trapped from the process's first key on.  Once per process.  0, or
 * -errno (-EOPNOTSUPP where the CPU's frames are not understood).
 */
int pk__syscall_trap(int filter);

#endif
