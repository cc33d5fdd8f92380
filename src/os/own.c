/* SPDX-License-Identifier: MIT */
/*
 * The memory the library itself runs on, found through the dynamic
 * loader's list of objects (dl_iterate_phdr): each object's loadable
 * segments, page-rounded.
 * The objects: the one holding this code (when that is not the
 * program: a static program's own pages stay its own),
 * the one holding libc's syscall(), the loader (AT_BASE) and the vDSO
 * (AT_SYSINFO_EHDR), with the kernel's data pages for the vDSO
 * ([vvar]), which its clock functions read.
 */
#include <dlfcn.h>
#include <link.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "os/own.h"
#include "os/page.h"
#include "os/vma.h"

enum { MAX_SPANS = 32 };
static struct pk__span spans[MAX_SPANS];
static int nspans;
/* The [vvar] pages are still to be looked up (pk__own_spans). */
static int vvar_wanted;

struct want {
	uintptr_t bases[4];
	int n;
};

static void add(uintptr_t start, uintptr_t end)
{
	size_t page = pk__page_size();

	if (nspans < MAX_SPANS && end > start)
		spans[nspans++] = (struct pk__span){
			start & ~(page - 1), (end + page - 1) & ~(page - 1)};
}

static int each_object(struct dl_phdr_info *info, size_t size, void *ctx)
{
	const struct want *w = ctx;
	int wanted = 0;

	(void)size;
	for (int i = 0; i < w->n; i++)
		wanted |= info->dlpi_addr == w->bases[i];
	if (!wanted)
		return 0;
	/*
	 * Each loadable segment.  Not the gaps between them: the loader
	 * that the kernel maps leaves them free, and the program's
	 * mappings may land there.
	 */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD)
			add(info->dlpi_addr + ph->p_vaddr,
			    info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
	}
	return 0;
}

struct holder {
	uintptr_t addr, bias;
	int found;
};

static int holds(struct dl_phdr_info *info, size_t size, void *ctx)
{
	struct holder *h = ctx;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || h->addr < start ||
		    h->addr - start >= ph->p_memsz)
			continue;
		/* The program itself: its headers are the kernel's AT_PHDR
		 * (glibc and musl name it differently in the list). */
		h->found = (uintptr_t)info->dlpi_phdr != getauxval(AT_PHDR);
		h->bias = info->dlpi_addr;
		return 1;
	}
	return 0;
}

/* The load bias of the object holding addr, if it is not the program. */
static int bias_of(const void *addr, uintptr_t *bias)
{
	struct holder h = {(uintptr_t)addr, 0, 0};

	dl_iterate_phdr(holds, &h);
	*bias = h.bias;
	return h.found;
}

static int add_vma(void *ctx, uintptr_t start, uintptr_t end, int prot)
{
	(void)ctx;
	(void)prot;
	add(start, end);
	return 0;
}

void pk__own_find(void)
{
	struct want w = {.n = 0};
	uintptr_t b, vdso = getauxval(AT_SYSINFO_EHDR), ld = getauxval(AT_BASE);
	if (nspans)
		return;
	if (bias_of((const void *)pk__own_find, &b))
		w.bases[w.n++] = b;
	if (bias_of((const void *)syscall, &b))
		w.bases[w.n++] = b;
	if (ld)
		w.bases[w.n++] = ld;
	if (vdso)
		w.bases[w.n++] = vdso;
	dl_iterate_phdr(each_object, &w);
	vvar_wanted = vdso != 0;
}

int pk__other_copy(char *other, size_t len)
{
	void *global = dlsym(RTLD_DEFAULT, "pk_backend_name");
	Dl_info g, mine;

	if (!global || !dladdr(global, &g) ||
	    !dladdr((const void *)pk__other_copy, &mine) ||
	    g.dli_fbase == mine.dli_fbase)
		return 0;
	snprintf(other, len, "%s", g.dli_fname ? g.dli_fname : "?");
	return 1;
}

int pk__own_spans(const struct pk__span **out)
{
	/*
	 * The kernel's data pages for the vDSO ([vvar], [vvar_vclock]) are
	 * named only in /proc/self/maps: read when first wanted, not by
	 * every pk_init (a program that never keys a range never needs
	 * them).  The caller holds the library's lock.
	 */
	if (vvar_wanted) {
		vvar_wanted = 0;
		pk__vma_named(" [vvar", add_vma, NULL);
	}
	*out = spans;
	return __atomic_load_n(&nspans, __ATOMIC_ACQUIRE);
}
