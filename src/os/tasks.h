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
/* Live threads in the process now; -1 if /proc cannot tell. */
int pk__count_tasks(void);

#endif
