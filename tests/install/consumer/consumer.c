/* SPDX-License-Identifier: MIT */
/* A program built against the installed library (tests/install/check.sh). */
#include <pkeys.h>
#include <stdio.h>

int main(void)
{
	printf("pkeys %d.%d.%d %s\n", pk_version() >> 16,
	       (pk_version() >> 8) & 0xff, pk_version() & 0xff,
	       pk_init() == 0 ? pk_backend_name() : "none");
	return pk_version() == PK_VERSION ? 0 : 1;
}
