/* SPDX-License-Identifier: MIT */
/* The threads (tasks) of this process, from /proc/self/task. */
#ifndef PK_OS_TASKS_H
#define PK_OS_TASKS_H

/*
 * Call fn(ctx, tid) for each thread of the process, with raw system
 * calls only (no malloc: callers hold the library's lock).  Stops at
 * fn's first non-zero return and returns it, or -errno.
 */
int pk__for_each_task(int (*fn)(void *ctx, int tid), void *ctx);
/*
 * Whether thread tid has exited: /proc still lists a thread for a while
 * after pthread_join returned (the kernel wakes the joiner before it
 * drops the task), as a zombie or dead task.  Raw system calls only.
 */
int pk__task_exited(int tid);
/*
 * How many threads the process has now, as the kernel counts them (the
 * links of /proc/self/task: one fstat(2) of a descriptor kept open,
 * about 0.3 us); -1 if it cannot tell.  Raw system calls only; not
 * thread-safe (the library's lock serialises the callers).
 */
int pk__tasks_listed(void);
/*
 * Whether the C library knows of no thread but the caller (glibc's
 * __libc_single_threaded, 2.32 and later; elsewhere never): then no
 * thread can have started since, short of a raw clone system call,
 * which glibc does not follow either (its own locks and malloc rely on
 * the same flag).  No system call.
 */
int pk__tasks_libc_alone(void);
/* In a forked child: the descriptor above is the parent's. */
void pk__tasks_forked(void);
/* Live threads in the process now; -1 if /proc cannot tell. */
int pk__count_tasks(void);

#endif
