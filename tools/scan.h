/* SPDX-License-Identifier: MIT */
/* pkeys scan (tools/scan.c): WRPKRU and XRSTOR byte sequences. */
#ifndef PKEYS_TOOL_SCAN_H
#define PKEYS_TOOL_SCAN_H

#include <stdio.h>

/* argv: what follows "scan".  Exit status: 1 found, 0 none, 2 error. */
int pk_tool_scan(int argc, char **argv);
void pk_tool_scan_usage(FILE *f);

#endif
