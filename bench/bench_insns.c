/* SPDX-License-Identifier: MIT */
/*
 * bench_insns: instructions executed by the rights calls, counted
 * exactly, beside glibc's pkey_set/pkey_get doing the same change.
 *
 *   bench_insns
 *
 * Time means nothing in a VM whose CPU is emulated in software (QEMU's
 * TCG, where the hardware backends are tested), but the number of
 * instructions a call executes is the same there as on a real CPU.  A
 * child process stops itself (SIGSTOP) just before each measured call;
 * the parent single-steps it (ptrace) until it reaches the end marker.
 * The same stop-call-marker sequence around an empty function is
 * subtracted, so each figure is the call alone.
 *
 * Cases, each on a key that holds a hardware key: pk_set and pk_get with
 * 1 and with 14 keys in use, glibc's pkey_set and pkey_get, and a 4-key
 * pk_domain_enter + pk_domain_leave against the same change made with
 * eight pkey_set calls (the domain entered before: what a thread
 * entering the same domain again pays), then a domain other than the
 * last entered.  Needs hardware keys (exits 77 without them).
 *
 * BENCH_INSNS_TRACE=N prints, for case N (1 is the first printed), each
 * step's address as "object+offset" on stderr, for addr2line: where the
 * instructions go.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pkeys.h>

#define NCASES 16

/*
 * No measured call may run an atomic read-modify-write: on POWER one is
 * a larx/stcx. loop, and a trap between the two loses the reservation,
 * so single-stepping it never ends.  The domain calls count their users
 * with plain sequentially consistent stores (sync; stw there).
 */

/* The end marker: the parent stops counting when the child reaches it. */
__attribute__((noinline)) void bench_insns_end(void)
{
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void empty(void)
{
	__asm__ volatile("" ::: "memory");
}

static long pc_of(pid_t pid)
{
#if defined(__x86_64__)
	return ptrace(PTRACE_PEEKUSER, pid,
		      (void *)offsetof(struct user_regs_struct, rip), NULL);
#elif defined(__powerpc64__)
	return ptrace(PTRACE_PEEKUSER, pid, (void *)(32 * sizeof(long)), NULL);
#else
	(void)pid;
	return -1;
#endif
}

/* One measurement in the child: stop, run fn, reach the marker. */
#define MEASURE(stmt)                                                      \
	do {                                                               \
		raise(SIGSTOP);                                            \
		stmt;                                                      \
		bench_insns_end();                                         \
	} while (0)

static const char *names[NCASES];

/* The child's address pc as "object+offset" (its /proc maps). */
static void trace_pc(pid_t pid, long pc)
{
	char path[64], line[512];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f)) {
		unsigned long lo, hi, off;
		char obj[256] = "?";

		if (sscanf(line, "%lx-%lx %*s %lx %*s %*s %255s", &lo, &hi, &off,
			   obj) < 3 ||
		    (unsigned long)pc < lo || (unsigned long)pc >= hi)
			continue;
		fprintf(stderr, "%s+%#lx\n", obj, (unsigned long)pc - lo + off);
		fclose(f);
		return;
	}
	if (f)
		fclose(f);
	fprintf(stderr, "?+%#lx\n", (unsigned long)pc);
}
static int ncases;

/*
 * The child's program.  Every case runs after its keys are set up and
 * used once, so first-call work (thread records) is not counted.
 */
static void child(void)
{
	int keys[14], glibc_key;
	struct pk_domain_entry d[4], e[4];
	struct pk_domain_saved saved;

	keys[0] = pk_key_alloc(0, 0);
	glibc_key = pkey_alloc(0, 0);
	if (keys[0] < 0 || glibc_key < 0)
		_exit(3);
	/* Each call once before it is counted (the library's own
	 * first-call work: the thread's record). */
	pk_set(keys[0], 0);
	pk_get(keys[0]);
	pkey_set(glibc_key, 0);
	pkey_get(glibc_key);

	MEASURE(empty());
	MEASURE(pk_set(keys[0], PK_DISABLE_WRITE));
	MEASURE(pk_get(keys[0]));
	MEASURE(pkey_set(glibc_key, PKEY_DISABLE_WRITE));
	MEASURE(pkey_get(glibc_key));
	for (int i = 1; i < 14; i++) {
		keys[i] = pk_key_alloc(0, 0);
		if (keys[i] < 0)
			_exit(4);
		pk_set(keys[i], 0);
	}
	MEASURE(pk_set(keys[0], 0));
	MEASURE(pk_get(keys[0]));
	for (int i = 0; i < 4; i++)
		d[i] = (struct pk_domain_entry){keys[i], PK_DISABLE_WRITE};
	for (int i = 0; i < 2; i++) { /* kept from the second entry on */
		pk_domain_enter(d, 4, &saved);
		pk_domain_leave(&saved);
	}
	MEASURE({
		pk_domain_enter(d, 4, &saved);
		pk_domain_leave(&saved);
	});
	MEASURE({
		for (int i = 0; i < 4; i++)
			pkey_set(glibc_key, PKEY_DISABLE_WRITE);
		for (int i = 0; i < 4; i++)
			pkey_set(glibc_key, 0);
	});
	/* Another domain than the last entered: the thread's kept copy
	 * does not apply (and is replaced). */
	for (int i = 0; i < 4; i++)
		e[i] = (struct pk_domain_entry){keys[4 + i], PK_DISABLE_WRITE};
	MEASURE({
		pk_domain_enter(e, 4, &saved);
		pk_domain_leave(&saved);
	});
	_exit(0);
}

int main(void)
{
	long end = (long)(void (*)(void))bench_insns_end;
	long counts[NCASES];
	int status, n = 0;
	const char *trace = getenv("BENCH_INSNS_TRACE");
	int traced = trace ? atoi(trace) : -1;
	pid_t pid;

	if (pk_init() || strcmp(pk_backend_name(), "emu") == 0) {
		printf("bench_insns: needs hardware keys (backend %s)\n",
		       pk_backend_name());
		return 77;
	}
	names[ncases++] = "(stop and marker)";
	names[ncases++] = "pk_set, 1 key in use";
	names[ncases++] = "pk_get, 1 key in use";
	names[ncases++] = "glibc pkey_set";
	names[ncases++] = "glibc pkey_get";
	names[ncases++] = "pk_set, 14 keys in use";
	names[ncases++] = "pk_get, 14 keys in use";
	names[ncases++] = "pk_domain_enter + leave, 4 keys";
	names[ncases++] = "glibc pkey_set x 8 (same change)";
	names[ncases++] = "pk_domain_enter + leave, another domain";

	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		child();
	}
	for (;;) {
		if (waitpid(pid, &status, 0) != pid || WIFEXITED(status) ||
		    WIFSIGNALED(status))
			break;
		if (WSTOPSIG(status) != SIGSTOP) {
			ptrace(PTRACE_CONT, pid, NULL,
			       (void *)(long)WSTOPSIG(status));
			continue;
		}
		/* Stopped before a case: step to the marker. */
		long steps = 0;
		for (;;) {
			if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) ||
			    waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
				return 1;
			steps++;
			if (pc_of(pid) == end)
				break;
			if (n == traced)
				trace_pc(pid, pc_of(pid));
		}
		if (n < NCASES)
			counts[n++] = steps;
		ptrace(PTRACE_CONT, pid, NULL, NULL);
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != ncases) {
		fprintf(stderr, "bench_insns: the child failed (status %#x, %d cases)\n",
			status, n);
		return 1;
	}
	printf("instructions per call (%s backend, counted by single-stepping):\n",
	       pk_backend_name());
	for (int i = 1; i < n; i++)
		printf("  %-40s %6ld\n", names[i], counts[i] - counts[0]);
	printf("ratios: pk_set/pkey_set %.2fx (1 key), %.2fx (14 keys); "
	       "pk_get/pkey_get %.2fx",
	       (double)(counts[1] - counts[0]) / (double)(counts[3] - counts[0]),
	       (double)(counts[5] - counts[0]) / (double)(counts[3] - counts[0]),
	       (double)(counts[2] - counts[0]) / (double)(counts[4] - counts[0]));
	printf("; domain/8 pkey_set %.2fx",
	       (double)(counts[7] - counts[0]) /
		       (double)(counts[8] - counts[0]));
	printf("\n");
	return 0;
}
