/* SPDX-License-Identifier: MIT */
/*
 * The threads of this process, read from /proc/self/task with raw
 * system calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/tasks.h"

/* Weak: musl and older glibc lack it, and its address is then null. */
extern char __libc_single_threaded __attribute__((weak));

int pk__tasks_libc_alone(void)
{
	return &__libc_single_threaded &&
	       __atomic_load_n(&__libc_single_threaded, __ATOMIC_RELAXED);
}

int pk__for_each_task(int (*fn)(void *ctx, int tid), void *ctx)
{
	char buf[4096];
	long n;
	int fd, rc = 0;

	fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
			  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (rc == 0 && (n = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n && rc == 0;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *d = (void *)(buf + off);
			int tid = 0;
			for (const char *c = d->name; *c >= '0' && *c <= '9'; c++)
				tid = tid * 10 + (*c - '0');
			if (tid > 0)
				rc = fn(ctx, tid);
			off += d->reclen;
		}
	close(fd);
	return rc;
}

int pk__task_exited(int tid)
{
	char path[48] = "/proc/self/task/", buf[512], *p, *close_paren = NULL;
	char digits[12];
	int fd, n = 0, len = 0;
	long got;

	do
		digits[n++] = (char)('0' + tid % 10);
	while ((tid /= 10) && n < (int)sizeof(digits));
	for (p = path + 16; n > 0;)
		*p++ = digits[--n];
	memcpy(p, "/stat", 6);
	fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH;
	got = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	close(fd);
	if (got <= 0)
		return 0;
	len = (int)got;
	buf[len] = 0;
	/* "tid (comm) S ...": comm may hold spaces and parentheses. */
	for (p = buf; p < buf + len; p++)
		if (*p == ')')
			close_paren = p;
	if (!close_paren || close_paren + 2 >= buf + len)
		return 0;
	return close_paren[2] == 'Z' || close_paren[2] == 'X';
}

/*
 * /proc/self/task, kept open: an fstat of it costs about 0.3 us, a
 * stat of the path about 1.2.  The inode tells whether the descriptor
 * is still ours (a program may close descriptors it did not open, and
 * the number be reused); a forked child drops its parent's.
 */
static int task_fd = -1;
static ino_t task_ino;

/* fstat(2) as every architecture has it (aarch64 has no SYS_fstat). */
static long fstat_fd(int fd, struct stat *st)
{
	return syscall(SYS_newfstatat, fd, "", st, AT_EMPTY_PATH);
}

void pk__tasks_forked(void)
{
	if (task_fd >= 0)
		close(task_fd);
	task_fd = -1;
}

int pk__tasks_listed(void)
{
	struct stat st;

	if (task_fd < 0 || fstat_fd(task_fd, &st) || !S_ISDIR(st.st_mode) ||
	    st.st_ino != task_ino) {
		task_fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
				       O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (task_fd < 0)
			return -1;
		if (fstat_fd(task_fd, &st)) {
			close(task_fd);
			task_fd = -1;
			return -1;
		}
		task_ino = st.st_ino;
	}
	/* The kernel gives the directory a link per thread, plus 2. */
	return st.st_nlink >= 3 ? (int)(st.st_nlink - 2) : -1;
}

static int count_one(void *ctx, int tid)
{
	if (!pk__task_exited(tid))
		++*(int *)ctx;
	return 0;
}

int pk__count_tasks(void)
{
	int count = 0;

	return pk__for_each_task(count_one, &count) ? -1 : count;
}
