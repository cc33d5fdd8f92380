/* SPDX-License-Identifier: MIT */
/* The thread-local AMR copy arch/ppc64.h reads and writes. */
#if defined(__powerpc64__)
#include "arch/ppc64.h"

__thread uint64_t pk__ppc_amr __attribute__((tls_model("initial-exec"))) =
	PK__PPC_AMR_UNREAD;
#endif
