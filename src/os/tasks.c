/*
 * The threads of this process, read from /proc/self/task with raw
 * system calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "os/tasks.h"

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
