/* SPDX-License-Identifier: MIT */
/*
 * pkfuzz: model-based fuzzing of the library (driver.h), in episodes of
 * random calls, each episode in its own process so that one divergence
 * or crash never hides the next.
 *
 *   pkfuzz [-s SEED] [-n CALLS] [-t SECONDS] [-e STEPS] [-r SEED]
 *
 *   -s SEED     seed of the first episode (default 1); episode i uses
 *               SEED+i, so a run is reproducible
 *   -n CALLS    stop after this many fuzzed calls (default 100000, or
 *               no limit with -t)
 *   -t SECONDS  stop after this long (whichever comes first)
 *   -e STEPS    calls per episode (default 2000)
 *   -r SEED     run the one episode SEED in this process (to debug it)
 *
 * The backend is the library's choice, or PKEYS_BACKEND's.  Prints the
 * calls made, calls per second and the divergences (each with its
 * episode's seed); exits 1 when there was one, 2 on a usage error.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pkeys.h>

#include "driver.h"

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct pkf_src seeded(unsigned long seed)
{
	/* xorshift wants a state that is not 0 */
	return (struct pkf_src){.rng = seed * 0x9e3779b97f4a7c15ull | 1};
}

/* One episode in a child; its counts come back through a pipe. */
static int episode(unsigned long seed, long steps, struct pkf_stats *st)
{
	int fd[2], status;
	pid_t pid;

	if (pipe(fd))
		return 2;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		struct pkf_src src = seeded(seed);
		struct pkf_stats s = {0, 0};
		int rc;

		close(fd[0]);
		alarm(120); /* a hang is a divergence too */
		rc = pkf_episode(&src, steps, &s);
		if (write(fd[1], &s, sizeof(s)) != sizeof(s))
			rc = 2;
		_exit(rc);
	}
	close(fd[1]);
	if (read(fd[0], st, sizeof(*st)) != sizeof(*st))
		*st = (struct pkf_stats){0, 0};
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "pkfuzz: episode %lu died of signal %d (%s)\n",
			seed, WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 1;
	}
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	unsigned long seed = 1, one = 0;
	long max_calls = 0, steps = 2000, episodes = 0, divergences = 0;
	double seconds = 0, t0;
	struct pkf_stats total = {0, 0};
	int c, single = 0;

	while ((c = getopt(argc, argv, "s:n:t:e:r:")) != -1) {
		switch (c) {
		case 's': seed = strtoul(optarg, NULL, 0); break;
		case 'n': max_calls = strtol(optarg, NULL, 0); break;
		case 't': seconds = strtod(optarg, NULL); break;
		case 'e': steps = strtol(optarg, NULL, 0); break;
		case 'r': one = strtoul(optarg, NULL, 0); single = 1; break;
		default:
			fprintf(stderr, "usage: pkfuzz [-s SEED] [-n CALLS] "
					"[-t SECONDS] [-e STEPS] [-r SEED]\n");
			return 2;
		}
	}
	if (!max_calls)
		max_calls = seconds > 0 ? LONG_MAX : 100000;
	if (steps <= 0 || max_calls <= 0) {
		fprintf(stderr, "pkfuzz: -e and -n take a positive number\n");
		return 2;
	}
	if (single) {
		struct pkf_src src = seeded(one);
		int rc = pkf_episode(&src, steps, &total);

		printf("pkfuzz: episode %lu, %s backend: %ld calls, %s\n", one,
		       pk_backend_name(), total.calls,
		       rc ? "DIVERGED" : "all matched the model");
		return rc;
	}
	t0 = now();
	while (total.calls < max_calls && (!seconds || now() - t0 < seconds)) {
		struct pkf_stats st;
		int rc = episode(seed + (unsigned long)episodes, steps, &st);

		if (rc == 2) {
			fprintf(stderr, "pkfuzz: episode %lu could not run\n",
				seed + (unsigned long)episodes);
			return 2;
		}
		if (rc) {
			divergences++;
			fprintf(stderr, "pkfuzz: reproduce with: pkfuzz -e %ld -r "
					"%lu\n", steps, seed + (unsigned long)episodes);
		}
		total.calls += st.calls;
		total.checks += st.checks;
		episodes++;
	}
	t0 = now() - t0;
	printf("pkfuzz: %s backend, seeds %lu..%lu: %ld calls (%ld checks) in "
	       "%.1f s, %.0f calls/s, %ld divergence%s\n",
	       pk_backend_name(), seed, seed + (unsigned long)episodes - 1,
	       total.calls, total.checks, t0, (double)total.calls / t0,
	       divergences, divergences == 1 ? "" : "s");
	return divergences ? 1 : 0;
}
