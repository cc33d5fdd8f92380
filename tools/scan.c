/* SPDX-License-Identifier: MIT */
/*
 * pkeys scan: find the byte sequences that change x86 protection-key
 * rights, wherever a jump could land on them (SECURITY.md): WRPKRU
 * (0F 01 EF) and XRSTOR with a memory operand (0F AE /5, which loads
 * PKRU from memory when the XSAVE image asks), at every byte offset of
 * the executable segments, inside other instructions' bytes too.
 *
 *   pkeys scan [--json] FILE...    ELF files (x86-64 and i386)
 *   pkeys scan [--json] --pid PID  a running process's executable mappings
 *
 * One line per hit; exit 1 when anything was found, 0 when nothing, 2 on
 * an error (which wins).
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scan.h"

struct out {
	int json, hits, first;
};

/* The sequence at b (len bytes left), or NULL; *start: its first byte,
 * counting a REX prefix that makes it xrstor64. */
static const char *match(const unsigned char *b, size_t len, size_t at,
			 size_t *start)
{
	const unsigned char *p = b + at;

	if (len - at < 3 || p[0] != 0x0f)
		return NULL;
	*start = at;
	if (p[1] == 0x01 && p[2] == 0xef)
		return "wrpkru";
	/* 0F AE /5: reg field 5; mod 3 would be LFENCE, not XRSTOR. */
	if (p[1] == 0xae && (p[2] & 0x38) == 0x28 && (p[2] & 0xc0) != 0xc0) {
		if (at > 0 && (p[-1] & 0xf8) == 0x48) {
			*start = at - 1;
			return "xrstor64";
		}
		return "xrstor";
	}
	return NULL;
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	putchar('"');
}

static void report(struct out *o, const char *where, uint64_t off,
		   uint64_t vaddr, const char *insn, const unsigned char *bytes,
		   int nbytes, const char *sym, uint64_t symoff)
{
	char hex[16] = "";
	int at = 0;

	for (int i = 0; i < nbytes; i++)
		at += snprintf(hex + at, sizeof(hex) - (size_t)at, "%s%02x",
			       i ? " " : "", bytes[i]);
	o->hits++;
	if (!o->json) {
		printf("%s: offset 0x%" PRIx64 " address 0x%" PRIx64 ": %s (%s)",
		       where, off, vaddr, insn, hex);
		if (sym)
			printf(" in %s+0x%" PRIx64, sym, symoff);
		putchar('\n');
		return;
	}
	printf("%s\n  {\"file\": ", o->first ? "" : ",");
	o->first = 0;
	json_str(where);
	printf(", \"offset\": %" PRIu64 ", \"address\": %" PRIu64
	       ", \"instruction\": \"%s\", \"bytes\": \"%s\", \"symbol\": ",
	       off, vaddr, insn, hex);
	if (sym)
		json_str(sym);
	else
		printf("null");
	printf(", \"symbol_offset\": %" PRIu64 "}", sym ? symoff : 0);
}

/* ELF files ------------------------------------------------------------ */

struct elf {
	const unsigned char *b;
	size_t len;
	const Elf64_Ehdr *eh;
};

/* The function (or other sized symbol) holding vaddr, from .symtab, or
 * from .dynsym when the file is stripped. */
static const char *symbol_at(const struct elf *e, uint64_t vaddr,
			     uint64_t *off)
{
	const Elf64_Shdr *sh = (const void *)(e->b + e->eh->e_shoff);
	const char *best = NULL;

	if (!e->eh->e_shoff || e->eh->e_shentsize != sizeof(Elf64_Shdr) ||
	    e->eh->e_shoff + (uint64_t)e->eh->e_shnum * sizeof(Elf64_Shdr) > e->len)
		return NULL;
	for (int pass = 0; pass < 2 && !best; pass++) {
		unsigned want = pass ? SHT_DYNSYM : SHT_SYMTAB;

		for (int i = 0; i < e->eh->e_shnum && !best; i++) {
			const Elf64_Shdr *s = &sh[i], *strs;
			const Elf64_Sym *sym;

			if (s->sh_type != want || s->sh_link >= e->eh->e_shnum ||
			    s->sh_offset + s->sh_size > e->len)
				continue;
			strs = &sh[s->sh_link];
			if (strs->sh_offset + strs->sh_size > e->len)
				continue;
			sym = (const void *)(e->b + s->sh_offset);
			for (size_t j = 0; j < s->sh_size / sizeof(*sym); j++) {
				if (!sym[j].st_size || sym[j].st_shndx == SHN_UNDEF ||
				    vaddr < sym[j].st_value ||
				    vaddr - sym[j].st_value >= sym[j].st_size ||
				    sym[j].st_name >= strs->sh_size)
					continue;
				best = (const char *)e->b + strs->sh_offset +
				       sym[j].st_name;
				*off = vaddr - sym[j].st_value;
				if (!memchr(best, 0, strs->sh_size - sym[j].st_name))
					best = NULL;
				break;
			}
		}
	}
	return best;
}

static int scan_elf(struct out *o, const char *path, const struct elf *e)
{
	const Elf64_Ehdr *eh = e->eh;
	const Elf64_Phdr *ph;

	if (eh->e_phentsize != sizeof(Elf64_Phdr) ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > e->len) {
		fprintf(stderr, "pkeys scan: %s: bad program headers\n", path);
		return 2;
	}
	ph = (const void *)(e->b + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++) {
		const unsigned char *seg;
		size_t n, start;

		if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
			continue;
		if (ph[i].p_offset > e->len || ph[i].p_filesz > e->len - ph[i].p_offset) {
			fprintf(stderr, "pkeys scan: %s: segment past the end of the file\n", path);
			return 2;
		}
		seg = e->b + ph[i].p_offset;
		n = ph[i].p_filesz;
		for (size_t at = 0; at + 3 <= n; at++) {
			const char *insn = match(seg, n, at, &start);
			uint64_t vaddr = ph[i].p_vaddr + start, symoff = 0;
			const char *sym;

			if (!insn)
				continue;
			sym = symbol_at(e, vaddr, &symoff);
			report(o, path, ph[i].p_offset + start, vaddr, insn,
			       seg + start, (int)(at - start) + 3, sym, symoff);
		}
	}
	return 0;
}

static int scan_file(struct out *o, const char *path)
{
	struct stat st;
	struct elf e;
	void *map;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "pkeys scan: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return 2;
	}
	if ((size_t)st.st_size < sizeof(Elf64_Ehdr)) {
		close(fd);
		fprintf(stderr, "pkeys scan: %s: not an ELF file\n", path);
		return 2;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		fprintf(stderr, "pkeys scan: %s: %s\n", path, strerror(errno));
		return 2;
	}
	e = (struct elf){map, (size_t)st.st_size, map};
	if (memcmp(e.eh->e_ident, ELFMAG, SELFMAG) ||
	    e.eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    e.eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    e.eh->e_machine != EM_X86_64) {
		fprintf(stderr, "pkeys scan: %s: not an x86-64 ELF file "
				"(WRPKRU exists only there)\n", path);
		rc = 2;
	} else {
		rc = scan_elf(o, path, &e);
	}
	munmap(map, (size_t)st.st_size);
	return rc;
}

/* A running process ----------------------------------------------------- */

static int scan_pid(struct out *o, const char *pid)
{
	char path[64], line[4200], name[4096];
	FILE *maps;
	int mem, rc = 0;

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	maps = fopen(path, "re");
	snprintf(path, sizeof(path), "/proc/%s/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (!maps || mem < 0) {
		fprintf(stderr, "pkeys scan: process %s: %s\n", pid, strerror(errno));
		if (maps)
			fclose(maps);
		if (mem >= 0)
			close(mem);
		return 2;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi, off;
		char perms[5];
		unsigned char *buf;
		size_t n, start;

		name[0] = 0;
		if (sscanf(line, "%lx-%lx %4s %lx %*s %*s %4095[^\n]", &lo, &hi,
			   perms, &off, name) < 4 || perms[2] != 'x')
			continue;
		n = hi - lo;
		if (!(buf = malloc(n))) {
			rc = 2;
			break;
		}
		/* [vsyscall] and the like cannot be read: not an error. */
		if (pread(mem, buf, n, (off_t)lo) != (ssize_t)n) {
			free(buf);
			continue;
		}
		for (size_t at = 0; at + 3 <= n; at++) {
			const char *insn = match(buf, n, at, &start);
			char where[4200];

			if (!insn)
				continue;
			snprintf(where, sizeof(where), "%s%s%s", pid,
				 name[0] ? " " : "", name);
			report(o, where, off + start, lo + start, insn,
			       buf + start, (int)(at - start) + 3, NULL, 0);
		}
		free(buf);
	}
	fclose(maps);
	close(mem);
	return rc;
}

void pk_tool_scan_usage(FILE *f)
{
	fprintf(f, "       pkeys scan [--json] FILE...\n"
		   "       pkeys scan [--json] --pid PID\n");
}

int pk_tool_scan(int argc, char **argv)
{
	struct out o = {0, 0, 1};
	int i = 0, rc = 0, pid = 0;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			o.json = 1;
		} else if (strcmp(argv[i], "--pid") == 0) {
			pid = 1;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			printf("usage:\n");
			pk_tool_scan_usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "pkeys scan: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (i == argc || (pid && argc - i != 1)) {
		fprintf(stderr, "usage:\n");
		pk_tool_scan_usage(stderr);
		return 2;
	}
	if (o.json)
		printf("[");
	for (; i < argc; i++) {
		int r = pid ? scan_pid(&o, argv[i]) : scan_file(&o, argv[i]);

		if (r > rc)
			rc = r;
	}
	if (o.json)
		printf("%s]\n", o.first ? "" : "\n");
	return rc ? rc : o.hits ? 1 : 0;
}
