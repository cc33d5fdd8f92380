/*
 * The memory the library itself runs on, found through the dynamic
 * loader's list of objects (dl_iterate_phdr): each object's loadable
 * segments, page-rounded.  The objects: the one holding this code (when
 * that is not the program: a static program's own pages stay its own),
 * the one holding libc's syscall(), the loader (AT_BASE) and the vDSO
 * (AT_SYSINFO_EHDR), with the kernel's data pages mapped right below
 * the vDSO ([vvar]), which its clock functions read.
 */
#include <dlfcn.h>
#include <link.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "os/own.h"
#include "os/page.h"
#include "os/vma.h"

enum { MAX_SPANS = 32 };
static struct pk__span spans[MAX_SPANS];
static int nspans;

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
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD)
			add(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr,
			    info->dlpi_addr + info->dlpi_phdr[i].p_vaddr +
				    info->dlpi_phdr[i].p_memsz);
	return 0;
}

/* The load bias of the object holding addr, if it is not the program. */
static int bias_of(const void *addr, uintptr_t *bias)
{
	Dl_info di;
	struct link_map *map = NULL;

	if (!dladdr1(addr, &di, (void **)&map, RTLD_DL_LINKMAP) || !map)
		return 0;
	/* The program's own link map has an empty name. */
	if (!map->l_name || !map->l_name[0])
		return 0;
	*bias = map->l_addr;
	return 1;
}

/* The mappings within 64 pages below the vDSO, in address order. */
struct near {
	struct pk__span at[8];
	int n;
};

static int below_vdso(void *ctx, uintptr_t start, uintptr_t end, int prot)
{
	struct near *nr = ctx;

	(void)prot;
	if (nr->n < 8)
		nr->at[nr->n++] = (struct pk__span){start, end};
	return 0;
}

void pk__own_find(void)
{
	struct want w = {.n = 0};
	uintptr_t b, vdso = getauxval(AT_SYSINFO_EHDR), ld = getauxval(AT_BASE);
	size_t page = pk__page_size();

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
	/* The kernel's pages right below the vDSO, back to the first gap. */
	if (vdso) {
		struct near nr = {.n = 0};
		uintptr_t at = vdso & ~(page - 1);

		pk__vma_walk(at - 64 * page, at, below_vdso, &nr);
		for (int i = nr.n - 1; i >= 0 && nr.at[i].end == at; i--) {
			add(nr.at[i].start, nr.at[i].end);
			at = nr.at[i].start;
		}
	}
}

int pk__own_spans(const struct pk__span **out)
{
	*out = spans;
	return __atomic_load_n(&nspans, __ATOMIC_ACQUIRE);
}
