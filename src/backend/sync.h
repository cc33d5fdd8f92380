/* SPDX-License-Identifier: MIT */
/*
 * Reaching every thread (backend/sync.c): the hardware backend keeps
 * each thread's rights register equal to its record, and only the
 * thread itself can write its register.
 */
#ifndef PK_BACKEND_SYNC_H
#define PK_BACKEND_SYNC_H

/* Install the sync signal's handler, which calls rebuild(ucontext). */
int pk__sync_init(void (*rebuild)(void *uc));
/*
 * Run rebuild in every other thread and wait for all of them.  Lock
 * held (so no other round runs).  0, or -EAGAIN when a thread did not
 * answer within a second (it blocks the signal), or -errno from /proc.
 */
int pk__sync_all(void);
/*
 * Stop every other thread in the signal's handler until
 * pk__sync_release, and wait until all are stopped; not under the lock,
 * and one caller at a time.  0, or -EAGAIN when a thread did not answer
 * within a second (the others are held even so; later rounds do not
 * wait for that thread), or -errno from /proc.  Release in either case.
 */
int pk__sync_hold_all(void);
void pk__sync_release(void);
/* The signal used: SIGRTMAX-3, reserved. */
int pk__sync_signal(void);

#endif
