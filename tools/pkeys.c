/*
 * pkeys: the command-line tool.  Built on the public API only.
 *
 *   pkeys info [--json]   what this machine offers and what the library
 *                         chose
 */
#include <stdio.h>
#include <string.h>

#include "pkeys.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: pkeys info [--json]\n"
		   "       pkeys --version\n");
}

static void json_str(const char *key, const char *s, const char *end)
{
	printf("  \"%s\": \"", key);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	printf("\"%s\n", end);
}

static const char *yes(int b)
{
	return b ? "yes" : "no";
}

static int info(int json)
{
	struct pk_info in;
	int rc = pk_init();

	pk_info(&in);
	if (json) {
		printf("{\n");
		printf("  \"version\": \"%d.%d.%d\",\n", pk_version() >> 16,
		       (pk_version() >> 8) & 0xff, pk_version() & 0xff);
		printf("  \"cpu_pku\": %s,\n", in.cpu_pku ? "true" : "false");
		printf("  \"cpu_ospke\": %s,\n", in.cpu_ospke ? "true" : "false");
		printf("  \"kernel_pkeys\": %s,\n",
		       in.kernel_pkeys ? "true" : "false");
		json_str("kernel_error",
			 in.kernel_pkeys ? "" : strerror(in.kernel_errno), ",");
		json_str("backend", in.backend, ",");
		json_str("reason", in.reason, ",");
		printf("  \"keys_total\": %d,\n", in.keys_total);
		printf("  \"keys_available\": %d,\n", in.keys_available);
		json_str("guarantee", in.guarantee, "");
		printf("}\n");
	} else {
		printf("CPU:        PKU %s, OSPKE %s\n", yes(in.cpu_pku),
		       yes(in.cpu_ospke));
		if (in.kernel_pkeys)
			printf("kernel:     pkey_alloc(2) works\n");
		else
			printf("kernel:     pkey_alloc(2) fails: %s\n",
			       strerror(in.kernel_errno));
		printf("backend:    %s\n", in.backend);
		printf("why:        %s\n", in.reason);
		printf("keys:       %d available of %d (key 0 is the default)\n",
		       in.keys_available, in.keys_total);
		printf("guarantee:  %s\n", in.guarantee);
	}
	return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "info") == 0) {
		int json = argc == 3 && strcmp(argv[2], "--json") == 0;
		if (argc > 3 || (argc == 3 && !json)) {
			usage(stderr);
			return 2;
		}
		return info(json);
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("pkeys %d.%d.%d\n", pk_version() >> 16,
		       (pk_version() >> 8) & 0xff, pk_version() & 0xff);
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	usage(stderr);
	return 2;
}
