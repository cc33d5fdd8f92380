/* SPDX-License-Identifier: MIT */
/* The emulation's exact mode (backend/emu_exact.c). */
#ifndef PK_BACKEND_EMU_EXACT_H
#define PK_BACKEND_EMU_EXACT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Ready the mode: rights_applied is the emulation's table of the rights
 * each key's pages carry.  0, or -errno with the reason in why.
 */
int pk__exact_init(const uint8_t *rights_applied, char *why, size_t len);
/* The backend's step call (backend/backend.h). */
int pk__exact_fault(siginfo_t *info, void *uc);

#endif
