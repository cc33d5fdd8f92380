/*
 * The threads of this process, read from /proc/self/task with raw
 * system calls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
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

static int count_one(void *ctx, int tid)
{
	(void)tid;
	++*(int *)ctx;
	return 0;
}

int pk__count_tasks(void)
{
	int count = 0;

	return pk__for_each_task(count_one, &count) ? -1 : count;
}
