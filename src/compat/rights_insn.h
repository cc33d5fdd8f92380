/* SPDX-License-Identifier: MIT */
/* The rights register's instructions on the emulation (compat/rights_insn.c). */
#ifndef PK_COMPAT_RIGHTS_INSN_H
#define PK_COMPAT_RIGHTS_INSN_H

/*
 * Carry out the program's own reads and writes of the rights register
 * from SIGILL, with get and set (the glibc layer's pkey_get and
 * pkey_set, on its numbers), from now on (once; on the emulation, on
 * CPUs whose instructions the library can decode).
 */
void pk__rights_insn_install(int (*get)(int), int (*set)(int, unsigned));

#endif
