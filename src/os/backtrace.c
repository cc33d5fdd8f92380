/* SPDX-License-Identifier: MIT */
/*
 * Backtraces for the fault report, on any libc.  Unwinding is libgcc's
 * _Unwind_Backtrace (glibc's backtrace() is that too, and musl has
 * none).  Names come from the object's own symbol table, read from its
 * file through a read-only mapping: the full table (.symtab) names the
 * program's static functions without -rdynamic, and no step calls
 * malloc or stdio, so a report from a SIGSEGV handler cannot deadlock
 * on a lock the faulting code held.
 */
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/backtrace.h"
#include "os/fmt.h"
#include "os/srcline.h"

#if PKEYS_HAVE_UNWIND
#include "os/report_libs.h"

struct walk {
	void **frames;
	int n, max;
	_Unwind_Ptr (*get_ip)(struct _Unwind_Context *);
};

static _Unwind_Reason_Code step(struct _Unwind_Context *ctx, void *arg)
{
	struct walk *w = arg;
	uintptr_t ip = w->get_ip(ctx);

	if (!ip || w->n == w->max)
		return _URC_END_OF_STACK;
	w->frames[w->n++] = (void *)ip;
	return _URC_NO_REASON;
}

/* Nothing before pk__backtrace_warm found the unwinder. */
int pk__backtrace(void **frames, int max)
{
	const struct pk__report_libs *u = pk__report_libs_loaded();
	struct walk w = {frames, 0, max, NULL};

	if (!u || !u->backtrace)
		return 0;
	w.get_ip = u->get_ip;
	u->backtrace(step, &w);
	return w.n;
}

void pk__backtrace_warm(void)
{
	void *one[1];

	/* The unwinder's own first use may allocate (its frame tables). */
	pk__report_libs_load();
	pk__backtrace(one, 1);
}
#else
/* No unwinder in this build (CMakeLists.txt): the report shows the
 * faulting instruction alone. */
int pk__backtrace(void **frames, int max)
{
	(void)frames;
	(void)max;
	return 0;
}

void pk__backtrace_warm(void)
{
}
#endif

/* A file mapped for reading, or map.base NULL. */
struct map {
	const unsigned char *base;
	size_t size;
};

static struct map map_file(const char *path)
{
	struct map m = {NULL, 0};
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	void *p;

	if (fd < 0)
		return m;
	if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(ElfW(Ehdr))) {
		/* The library's own mapping: past the interposed mmap. */
		p = (void *)syscall(SYS_mmap, NULL, (size_t)st.st_size, PROT_READ,
				    MAP_PRIVATE, fd, 0);
		if (p != MAP_FAILED) {
			m.base = p;
			m.size = (size_t)st.st_size;
		}
	}
	close(fd);
	return m;
}

/* Whether [off, off + len) lies in the file. */
static int inside(const struct map *m, uint64_t off, uint64_t len)
{
	return off <= m->size && len <= m->size - off;
}

/*
 * The function of the ELF file m holding file address vaddr: its name
 * into name and vaddr's offset from its start.  The full symbol table
 * when the file has one, else the dynamic one.  0, or -1.
 */
static int function_at(const struct map *m, uint64_t vaddr, char *name,
		       size_t len, uint64_t *off)
{
	const ElfW(Ehdr) *eh = (const void *)m->base;
	const ElfW(Shdr) *sh;
	uint64_t best = 0;
	const char *best_name = NULL;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    !inside(m, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(*sh)))
		return -1;
	sh = (const void *)(m->base + eh->e_shoff);
	for (int want = SHT_SYMTAB; !best_name && want; want =
		     want == SHT_SYMTAB ? SHT_DYNSYM : 0) {
		for (unsigned i = 0; i < eh->e_shnum; i++) {
			const ElfW(Sym) *sym;
			const ElfW(Shdr) *str;
			size_t n;

			if (sh[i].sh_type != (unsigned)want ||
			    sh[i].sh_link >= eh->e_shnum ||
			    !inside(m, sh[i].sh_offset, sh[i].sh_size))
				continue;
			str = &sh[sh[i].sh_link];
			if (!inside(m, str->sh_offset, str->sh_size))
				continue;
			sym = (const void *)(m->base + sh[i].sh_offset);
			n = sh[i].sh_size / sizeof(*sym);
			for (size_t j = 0; j < n; j++) {
				unsigned type = ELF64_ST_TYPE(sym[j].st_info);

				if ((type != STT_FUNC && type != STT_GNU_IFUNC) ||
				    !sym[j].st_value || sym[j].st_value > vaddr ||
				    sym[j].st_value < best ||
				    sym[j].st_name >= str->sh_size)
					continue;
				if (sym[j].st_size &&
				    vaddr - sym[j].st_value >= sym[j].st_size)
					continue;
				best = sym[j].st_value;
				best_name = (const char *)m->base + str->sh_offset +
					    sym[j].st_name;
			}
		}
	}
	if (!best_name)
		return -1;
	for (size_t i = 0; i + 1 < len && best_name[i] &&
			   best_name + i < (const char *)m->base + m->size;
	     i++, name[i] = 0)
		name[i] = best_name[i];
	*off = vaddr - best;
	return 0;
}

/* The file address of the object's first byte (its first PT_LOAD). */
static uint64_t first_vaddr(const struct map *m)
{
	const ElfW(Ehdr) *eh = (const void *)m->base;
	const ElfW(Phdr) *ph;

	if (!inside(m, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(*ph)))
		return 0;
	ph = (const void *)(m->base + eh->e_phoff);
	for (unsigned i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD)
			return ph[i].p_vaddr - ph[i].p_offset;
	return 0;
}

static void describe(struct pk__fmt *l, const void *ip, int exact)
{
	Dl_info di;
	struct map m;
	char name[160];
	uint64_t off = 0;
	const char *path;

	if (!dladdr(ip, &di) || !di.dli_fbase)
		return;
	/*
	 * The program's own name may be empty, or relative to a directory
	 * the process has left: the kernel's link to it names the file.
	 * (The program is the object whose headers are the kernel's
	 * AT_PHDR; its ELF header is mapped at its base.)
	 */
	path = di.dli_fname;
	if ((uintptr_t)di.dli_fbase +
		    ((const ElfW(Ehdr) *)di.dli_fbase)->e_phoff ==
	    getauxval(AT_PHDR))
		path = "/proc/self/exe";
	name[0] = 0;
	m = map_file(path ? path : "");
	if (m.base) {
		uint64_t vaddr = (uintptr_t)ip - (uintptr_t)di.dli_fbase +
				 first_vaddr(&m);

		/* A return address: the call is the byte before it. */
		if (function_at(&m, vaddr - !exact, name, sizeof(name), &off) == 0)
			off += !exact;
		else
			name[0] = 0;
		syscall(SYS_munmap, m.base, m.size);
	}
	if (!name[0] && di.dli_sname && di.dli_saddr) {
		size_t i;

		for (i = 0; i + 1 < sizeof(name) && di.dli_sname[i]; i++)
			name[i] = di.dli_sname[i];
		name[i] = 0;
		off = (uintptr_t)ip - (uintptr_t)di.dli_saddr;
	}
	if (name[0]) {
		pk__fmt_put(l, " ");
		pk__fmt_put(l, name);
		pk__fmt_put(l, "+");
		pk__fmt_num(l, (unsigned long)off, 16);
	}
	if (di.dli_fname && di.dli_fname[0]) {
		pk__fmt_put(l, " (");
		pk__fmt_put(l, di.dli_fname);
		pk__fmt_put(l, ")");
	}
}

void pk__backtrace_print(int fd, void *const *frames, int n, int exact_first)
{
	for (int i = 0; i < n; i++) {
		char buf[512];
		struct pk__fmt l = {buf, sizeof(buf), 0};

		pk__fmt_put(&l, "  #");
		pk__fmt_num(&l, (unsigned long)i, 10);
		pk__fmt_put(&l, " ");
		pk__fmt_num(&l, (unsigned long)frames[i], 16);
		describe(&l, frames[i], exact_first && i == 0);
		pk__fmt_put(&l, "\n");
		(void)!write(fd, buf, l.need < sizeof(buf) ? l.need : sizeof(buf) - 1);
	}
}

void pk__backtrace_report(int fd, void *ip)
{
	static const char none[] =
		"  (no unwinder in this build: the faulting instruction only)\n";
	void *frames[32];
	int n = pk__backtrace(frames, 32), first;

	for (first = 0; first < n && frames[first] != ip; first++)
		;
	(void)!write(fd, "pkeys: backtrace:\n", 18);
	if (first == n) {
		/* The unwinder did not cross the signal frame (musl's has no
		 * unwind information), or there is none: the faulting
		 * instruction at least. */
		frames[0] = ip;
		first = 0;
		n = 1;
		pk__backtrace_print(fd, frames, 1, 1);
		if (!pk__backtrace(frames + 1, 1))
			(void)!write(fd, none, sizeof(none) - 1);
	} else {
		pk__backtrace_print(fd, frames + first, n - first, 1);
	}
	pk__srclines_print(fd, frames + first, n - first, 1);
}
