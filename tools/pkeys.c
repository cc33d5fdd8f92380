/* SPDX-License-Identifier: MIT */
/*
 * pkeys: the command-line tool.  Built on the public API only.
 *
 *   pkeys info [--json]   what this machine offers and what the library
 *                         chose
 *   pkeys run [--exact] [--] CMD...
 *                         run CMD, a program built against glibc's pkey
 *                         calls, with keys enforced: unchanged where the
 *                         hardware backend works, else with the emulation
 *                         preloaded (libpkeys_preload.so); --exact asks
 *                         for its exact per-thread mode (PKEYS_EMU=exact)
 *   pkeys scan [--json] FILE... | --pid PID
 *                         find the x86 instructions that change key
 *                         rights in executable code (tools/scan.c)
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/select.h"
#include "pkeys.h"
#include "scan.h"

/* Set by cmake/compat.cmake; these are the defaults of an install. */
#ifndef PKEYS_PRELOAD_NAME
#define PKEYS_PRELOAD_NAME "libpkeys_preload.so"
#endif
#ifndef PKEYS_REPORT_NAME
#define PKEYS_REPORT_NAME "libpkeys_report.so"
#endif
#ifndef PKEYS_BIN_TO_LIB
#define PKEYS_BIN_TO_LIB "../lib/pkeys"
#endif

static const char run_usage[] =
	"usage: pkeys run [--exact] [--] COMMAND [ARG...]\n";
static const char info_usage[] = "usage: pkeys info [--json]\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: pkeys info [--json]\n"
		   "       pkeys run [--exact] [--] COMMAND [ARG...]\n");
	pk_tool_scan_usage(f);
	fprintf(f, "       pkeys --version\n"
		   "       pkeys COMMAND --help\n");
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0.
 */
static int utf8_len(const unsigned char *s)
{
	int n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	unsigned char lo = 0x80, hi = 0xbf;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

/* A JSON string: escapes, and U+FFFD for bytes that are not UTF-8 (a
 * reason may quote the environment, or be cut inside a character). */
static void json_str(const char *key, const char *str, const char *end)
{
	const unsigned char *s = (const unsigned char *)str;

	printf("  \"%s\": \"", key);
	while (*s) {
		int n = *s < 0x80 ? 1 : utf8_len(s);

		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if (*s < 0x20)
			printf("\\u%04x", *s);
		else if (n == 0)
			printf("\\ufffd");
		else
			fwrite(s, 1, (size_t)n, stdout);
		s += n ? n : 1;
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
		printf("  \"feature_trap\": %s,\n",
		       in.feature_trap ? "true" : "false");
		json_str("guarantee", in.guarantee, "");
		printf("}\n");
	} else {
		printf("CPU:        keys %s, enabled %s\n", yes(in.cpu_pku),
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
		if (strcmp(in.backend, "emu") == 0)
			printf("features:   %s\n",
			       in.feature_trap
				       ? "the kernel can trap the CPU's feature "
					 "query"
				       : "the kernel cannot trap the CPU's feature "
					 "query: programs that check it for keys "
					 "see none, also under pkeys run");
		printf("guarantee:  %s\n", in.guarantee);
	}
	return rc ? 1 : 0;
}

/*
 * A library pkeys run preloads (name): beside this executable (the
 * build tree), or in the libdir of the install tree this executable is
 * in.  Fills path (absolute) and returns 0, or -1.  The directory comes
 * from /proc/self/exe, which the kernel gives with every symbolic link
 * resolved, so each leading "../" of PKEYS_BIN_TO_LIB drops one
 * component of it as the file system would, without realpath(3), whose
 * readlink(2) per component every run would pay (links below the
 * library directory stay as named: the loader knows a file by its
 * identity, not its name).
 */
static int find_preload(const char *name, char *path, size_t len)
{
	static const char *const rel[] = {"", PKEYS_BIN_TO_LIB};
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;
	size_t at;

	if (n <= 0 || self[0] != '/')
		return -1;
	self[n] = 0;
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		const char *r = rel[i];
		int up = 1; /* the executable's own name first */

		for (; strncmp(r, "../", 3) == 0; r += 3)
			up++;
		if ((size_t)n + 1 > len)
			return -1;
		memcpy(path, self, (size_t)n + 1);
		while (up-- > 0 && (slash = strrchr(path, '/')) != NULL)
			*slash = 0; /* "/x" leaves "", the root */
		at = strlen(path);
		if ((size_t)snprintf(path + at, len - at, "/%s%s%s", r,
				     *r ? "/" : "", name) >= len - at)
			return -1;
		if (access(path, R_OK) == 0)
			return 0;
	}
	return -1;
}

/* file opened as execvp would find it on PATH, or -1. */
static int open_command(const char *file)
{
	char path[PATH_MAX];
	const char *dirs = getenv("PATH"), *end;
	int fd = -1;

	if (strchr(file, '/'))
		return open(file, O_RDONLY | O_CLOEXEC);
	for (dirs = dirs ? dirs : "/bin:/usr/bin"; fd < 0 && *dirs;
	     dirs = *end ? end + 1 : end) {
		end = strchrnul(dirs, ':');
		if (end == dirs) /* an empty entry is the current directory */
			snprintf(path, sizeof(path), "./%s", file);
		else
			snprintf(path, sizeof(path), "%.*s/%s",
				 (int)(end - dirs), dirs, file);
		if (access(path, X_OK) == 0)
			fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	return fd;
}

/*
 * Whether the command is a statically linked ELF program (no PT_INTERP),
 * which LD_PRELOAD cannot reach, and whether it is set-user-ID or
 * set-group-ID, for which the dynamic linker ignores LD_PRELOAD.
 * Scripts, and files that cannot be read, are neither.
 */
static void command_kind(const char *file, int *is_static, int *setid)
{
	/* The headers, in one read: they come first in the files linkers
	 * write (a few hundred bytes); elsewhere, one read each. */
	union {
		Elf64_Ehdr eh;
		unsigned char bytes[4096];
	} head;
	Elf64_Phdr ph;
	struct stat st;
	int fd = open_command(file), interp = 0;
	ssize_t got;

	*is_static = *setid = 0;
	if (fd < 0)
		return;
	*setid = fstat(fd, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID));
	got = pread(fd, &head, sizeof(head), 0);
	if (got < (ssize_t)sizeof(head.eh) ||
	    memcmp(head.eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    head.eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    head.eh.e_phentsize != sizeof(ph)) {
		close(fd);
		return;
	}
	for (int i = 0; i < head.eh.e_phnum; i++) {
		uint64_t at = head.eh.e_phoff + (uint64_t)i * sizeof(ph);

		if (at + sizeof(ph) <= (uint64_t)got)
			memcpy(&ph, head.bytes + at, sizeof(ph));
		else if (pread(fd, &ph, sizeof(ph), (off_t)at) !=
			 (ssize_t)sizeof(ph))
			continue;
		interp |= ph.p_type == PT_INTERP;
	}
	close(fd);
	*is_static = !interp;
}

/* Whether the LD_PRELOAD list holds lib already (a nested pkeys run). */
static int preloads(const char *list, const char *lib)
{
	size_t n = strlen(lib);

	for (const char *p = list; (p = strstr(p, lib)); p += n)
		if ((p == list || strchr(": \t", p[-1])) && strchr(": \t", p[n]))
			return 1;
	return 0;
}

/*
 * Add lib to LD_PRELOAD (once: a nested pkeys run finds it there) and
 * set PKEYS_RUN_REPORT=1, the preloaded library's cue to report key
 * faults.  0, or 125 with a message.
 */
static int preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	char *list;
	int rc;

	/* The dynamic linker splits LD_PRELOAD at these. */
	if (strpbrk(lib, ": \t")) {
		fprintf(stderr, "pkeys run: %s: LD_PRELOAD cannot hold a path "
				"with ':' or spaces\n", lib);
		return 125;
	}
	if (old && preloads(old, lib)) {
		list = (char *)old; /* nested: already there */
	} else if (old && *old) {
		list = malloc(strlen(old) + strlen(lib) + 2);
		if (!list) {
			perror("pkeys run");
			return 125;
		}
		sprintf(list, "%s:%s", old, lib);
	} else {
		list = (char *)lib;
	}
	rc = setenv("LD_PRELOAD", list, 1) || setenv("PKEYS_RUN_REPORT", "1", 1);
	if (list != lib && list != old)
		free(list);
	if (rc) {
		perror("pkeys run");
		return 125;
	}
	return 0;
}

/*
 * pkeys run: exec the command with the emulation preloaded where the
 * library chooses it.  Where it chooses the hardware, the program's own
 * glibc pkey calls already work and run unchanged; only the fault
 * report is preloaded (libpkeys_report.so), when it is installed.  Exit
 * status as env(1): 125 when pkeys run fails, 126 when the command
 * cannot run, 127 when it is not found.
 */
static int run(char **cmd)
{
	char lib[PATH_MAX], why[160];
	int err, rc, is_static, setid;
	/*
	 * The choice the command's library will make, by the probes alone:
	 * this process uses no key, so it sets nothing up (a full pk_init
	 * cost 0.1 ms more of every run here).
	 */
	const struct pk__backend *b = pk__backend_probe(why, sizeof(why));

	if (!b) {
		fprintf(stderr, "pkeys run: no backend: %s\n", why);
		return 125;
	}
	if (!b->hardware) {
		if (find_preload(PKEYS_PRELOAD_NAME, lib, sizeof(lib))) {
			fprintf(stderr, "pkeys run: cannot find %s beside the "
					"pkeys executable or in %s from it\n",
				PKEYS_PRELOAD_NAME, PKEYS_BIN_TO_LIB);
			return 125;
		}
		command_kind(cmd[0], &is_static, &setid);
		if (is_static)
			fprintf(stderr, "pkeys run: warning: %s is statically "
					"linked: its pkey calls cannot be "
					"emulated\n", cmd[0]);
		if (setid)
			fprintf(stderr, "pkeys run: warning: %s is set-user-ID "
					"or set-group-ID: the dynamic linker "
					"ignores LD_PRELOAD there, its pkey calls "
					"cannot be emulated\n", cmd[0]);
		/* The preload library reports key faults (preload.c). */
		if ((rc = preload(lib)) != 0)
			return rc;
		/* And traps direct pkey system calls (syscall_trap.c),
		 * unless the user chose otherwise. */
		if (!getenv("PKEYS_RUN_SYSCALLS") &&
		    setenv("PKEYS_RUN_SYSCALLS", "trap", 1)) {
			perror("pkeys run");
			return 125;
		}
	} else if (find_preload(PKEYS_REPORT_NAME, lib, sizeof(lib)) == 0) {
		/* Hardware keys: the report alone (src/compat/report.c). */
		if ((rc = preload(lib)) != 0)
			return rc;
	}
	execvp(cmd[0], cmd);
	err = errno;
	fprintf(stderr, "pkeys run: %s: %s\n", cmd[0], strerror(err));
	return err == ENOENT ? 127 : 126;
}

/* Output that did not reach its destination (a full disk, a closed
 * pipe) is a failure, not a success. */
static int flushed(int rc)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return rc;
	fprintf(stderr, "pkeys: cannot write the output: %s\n", strerror(errno));
	return 1;
}

/*
 * The options of a command, up to its first operand (getopt_long, "+":
 * pkeys run stops at the command it runs).  Returns the index of the
 * first operand, or -1 after --help (usage printed, exit 0), or -2 on
 * an unknown option (message printed, exit 2).
 */
static int options(const char *cmd, const char *use, int argc, char **argv,
		   int *json, int *exact)
{
	static const struct option opts[] = {{"help", no_argument, NULL, 'h'},
					     {"json", no_argument, NULL, 'j'},
					     {"exact", no_argument, NULL, 'x'},
					     {NULL, 0, NULL, 0}};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (c == 'h') {
			fputs(use, stdout);
			return -1;
		}
		if (c == 'j' && json) {
			*json = 1;
			continue;
		}
		if (c == 'x' && exact) {
			*exact = 1;
			continue;
		}
		fprintf(stderr, "pkeys %s: unknown option %s\n%s", cmd,
			argv[optind - 1], use);
		return -2;
	}
	return optind;
}

int main(int argc, char **argv)
{
	int json = 0, first;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "run") == 0) {
		int exact = 0;

		first = options("run", run_usage, argc - 1, argv + 1, NULL,
				&exact);
		if (first < 0)
			return first == -1 ? flushed(0) : 2;
		if (first + 1 >= argc) {
			fputs(run_usage, stderr);
			return 2;
		}
		/* Before the backend is chosen: it reads the mode, and so
		 * does the command's copy of the library. */
		if (exact && setenv("PKEYS_EMU", "exact", 1)) {
			perror("pkeys run");
			return 125;
		}
		return run(argv + 1 + first);
	}
	if (strcmp(argv[1], "scan") == 0)
		return flushed(pk_tool_scan(argc - 2, argv + 2));
	if (strcmp(argv[1], "info") == 0) {
		first = options("info", info_usage, argc - 1, argv + 1, &json,
				NULL);
		if (first < 0)
			return first == -1 ? flushed(0) : 2;
		if (first + 1 != argc) {
			fprintf(stderr, "pkeys info: unexpected argument %s\n%s",
				argv[first + 1], info_usage);
			return 2;
		}
		return flushed(info(json));
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("pkeys %d.%d.%d\n", pk_version() >> 16,
		       (pk_version() >> 8) & 0xff, pk_version() & 0xff);
		return flushed(0);
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return flushed(0);
	}
	if (argv[1][0] == '-')
		fprintf(stderr, "pkeys: unknown option %s\n", argv[1]);
	else
		fprintf(stderr, "pkeys: unknown command %s\n", argv[1]);
	usage(stderr);
	return 2;
}
