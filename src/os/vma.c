/* SPDX-License-Identifier: MIT */
/*
 * Reading the kernel's mappings: which address ranges are mapped and
 * with what protection.  Re-keying pages while keeping each page's
 * protection (pk_protect_range), and putting pages back as they were
 * when a change fails half-way, both need it; the kernel offers no
 * system call for it.
 *
 * Linux 6.11 and later answer one address at a time with the
 * PROCMAP_QUERY ioctl on /proc/self/maps, in O(log n).  Older kernels
 * only have the text of /proc/self/maps, read from the start up to the
 * range asked for: O(number of mappings below it).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/vma.h"

/* From <linux/fs.h> of Linux 6.11, absent from older headers. */
struct pk__procmap_query {
	uint64_t size;
	uint64_t query_flags;
	uint64_t query_addr;
	uint64_t vma_start;
	uint64_t vma_end;
	uint64_t vma_flags;
	uint64_t vma_page_size;
	uint64_t vma_offset;
	uint64_t inode;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t vma_name_size;
	uint32_t build_id_size;
	uint64_t vma_name_addr;
	uint64_t build_id_addr;
};
#define PK__PROCMAP_QUERY _IOWR('f', 17, struct pk__procmap_query)
#define PK__QUERY_COVERING_OR_NEXT 0x10
#define PK__VMA_READ 0x1
#define PK__VMA_WRITE 0x2
#define PK__VMA_EXEC 0x4

/* -1 unknown, 0 the ioctl is missing, 1 it works. */
static int have_query = -1;
/*
 * /proc/self/maps stays open while the ioctl works, so that a call
 * makes one ioctl per mapping and no open or close: opened once per
 * process, once fork's child handler is in place (pk__vma_keep_open),
 * since a child must not query its parent's mappings through the
 * inherited descriptor.
 *
 * A program may close it (close, closefrom) and get its number back
 * for a file of its own, or put another file there (dup2), even
 * another process's /proc/PID/maps, on which the ioctl answers for
 * that process.  So the descriptor is used, and closed, only while its
 * number still holds the file opened here: the same device and inode
 * (an fstat per call; the inode of an open /proc/PID/maps stays its
 * own while the file is open).  Otherwise the number is the program's:
 * left alone, and /proc/self/maps opened anew.  It is moved up to
 * MAPS_FD_MIN or above, away from the numbers programs usually open
 * and close, so that they rarely meet it.
 */
#define MAPS_FD_MIN 100
static int maps_fd = -1, keep_open;
static dev_t maps_dev;
static ino_t maps_ino;

void pk__vma_keep_open(void)
{
	__atomic_store_n(&keep_open, 1, __ATOMIC_RELAXED);
}

/* maps_fd still holds the file the library opened. */
static int maps_fd_ours(void)
{
	struct stat st;

	return maps_fd >= 0 && fstat(maps_fd, &st) == 0 &&
	       st.st_dev == maps_dev && st.st_ino == maps_ino;
}

void pk__vma_forget(void)
{
	if (maps_fd_ours())
		close(maps_fd);
	maps_fd = -1;
}

/* Keep fd (ours, open on /proc/self/maps) as maps_fd, moved up. */
static void keep(int fd)
{
	struct stat st;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, MAPS_FD_MIN);

	if (high >= 0) { /* else stays where it is (RLIMIT_NOFILE) */
		close(fd);
		fd = high;
	}
	if (fstat(fd, &st) != 0) {
		close(fd);
		return;
	}
	maps_dev = st.st_dev;
	maps_ino = st.st_ino;
	maps_fd = fd;
}

static int open_maps(void)
{
	return (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps",
			    O_RDONLY | O_CLOEXEC);
}

/* *first_failed: the very first query failed (no fn called yet). */
static int walk_query(int fd, uintptr_t start, uintptr_t end,
		      pk__vma_fn fn, void *ctx, int *first_failed)
{
	uintptr_t at = start;
	int rc;

	*first_failed = 0;
	while (at < end) {
		struct pk__procmap_query q;

		memset(&q, 0, sizeof(q));
		q.size = sizeof(q);
		q.query_flags = PK__QUERY_COVERING_OR_NEXT;
		q.query_addr = at;
		if (ioctl(fd, PK__PROCMAP_QUERY, &q) != 0) {
			*first_failed = at == start && errno != ENOENT;
			return errno == ENOENT ? 0 : -errno;
		}
		if (q.vma_start >= end)
			return 0;
		int prot = (q.vma_flags & PK__VMA_READ ? PROT_READ : 0) |
			   (q.vma_flags & PK__VMA_WRITE ? PROT_WRITE : 0) |
			   (q.vma_flags & PK__VMA_EXEC ? PROT_EXEC : 0);
		rc = fn(ctx, q.vma_start, q.vma_end, prot);
		if (rc)
			return rc;
		at = q.vma_end;
	}
	return 0;
}

/*
 * Parse "start-end perms ..." lines, in address order, up to end; with
 * tag, only the lines that hold it (a name such as " [vvar").
 */
static int walk_text(int fd, uintptr_t start, uintptr_t end, pk__vma_fn fn,
		     void *ctx, const char *tag)
{
	char buf[8192];
	size_t have = 0;
	ssize_t n;
	int rc;

	for (;;) {
		char *line = buf, *nl;

		n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n < 0)
			return -errno;
		have += (size_t)n;
		buf[have] = 0;
		while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
			unsigned long s, e;
			char perms[8];

			*nl = 0;
			if ((!tag || strstr(line, tag)) &&
			    sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3) {
				if (s >= end)
					return 0;
				if (e > start) {
					int prot = (perms[0] == 'r' ? PROT_READ : 0) |
						   (perms[1] == 'w' ? PROT_WRITE : 0) |
						   (perms[2] == 'x' ? PROT_EXEC : 0);
					rc = fn(ctx, s, e, prot);
					if (rc)
						return rc;
				}
			}
			line = nl + 1;
		}
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (n == 0)
			return 0;
		if (have == sizeof(buf) - 1)
			return -EIO; /* a line longer than the buffer */
	}
}

int pk__vma_walk(uintptr_t start, uintptr_t end, pk__vma_fn fn, void *ctx)
{
	int fd, rc, first_failed;

	if (have_query != 0 && maps_fd >= 0) {
		if (maps_fd_ours()) {
			rc = walk_query(maps_fd, start, end, fn, ctx,
					&first_failed);
			if (!first_failed)
				return rc;
			close(maps_fd); /* and try a fresh one */
		}
		maps_fd = -1; /* closed, or the program's file now */
	}
	if ((fd = open_maps()) < 0)
		return -errno;
	if (have_query != 0) {
		rc = walk_query(fd, start, end, fn, ctx, &first_failed);
		if (first_failed && (rc == -ENOTTY || rc == -EINVAL)) {
			__atomic_store_n(&have_query, 0, __ATOMIC_RELAXED);
		} else {
			__atomic_store_n(&have_query, 1, __ATOMIC_RELAXED);
			if (__atomic_load_n(&keep_open, __ATOMIC_RELAXED) &&
			    !first_failed)
				keep(fd);
			else
				close(fd);
			return rc;
		}
	}
	rc = walk_text(fd, start, end, fn, ctx, NULL);
	close(fd);
	return rc;
}

int pk__vma_named(const char *tag, pk__vma_fn fn, void *ctx)
{
	int fd = open_maps(), rc;

	if (fd < 0)
		return -errno;
	rc = walk_text(fd, 0, UINTPTR_MAX, fn, ctx, tag);
	close(fd);
	return rc;
}
