/* SPDX-License-Identifier: MIT */
/*
 * bench_run: what `pkeys run` adds to commands that use no key.
 *
 *   bench_run [ROUNDS [PKEYS [WRAPPER]]]
 *   bench_run --exec CMD...      the bare wrapper: execvp, nothing else
 *   bench_run --mmap-loop N      the mapping loop's child (see below)
 *
 * First, `git -C REPO status --porcelain` in a temporary repository of
 * 2,000 small committed files (40 directories of 50), output to
 * /dev/null, started ROUNDS times (default 40) each way, the two ways
 * alternating and taking turns to go first, after 3 unmeasured runs of
 * each: by `PKEYS run --`, and by `WRAPPER --exec`, a statically linked
 * build of this program (as PKEYS is), so that the bare side pays for
 * one exec of a small static program and nothing else.  A run's CPU
 * time is user+sys of the child and all its descendants (wait4's
 * rusage); the table gives the median of each side, the ratio and the
 * difference (the cost per process), and the same for wall time.
 * PKEYS defaults to pkeys beside this program, WRAPPER to
 * bench_run_static beside it, else to this program itself.
 *
 * Second, mmap+munmap of one 64 KiB anonymous region in a loop, in a
 * child that is this program (--mmap-loop: 1,000 pairs unmeasured, then
 * N timed with CLOCK_MONOTONIC, ns per pair back through a pipe), run
 * plainly and under `PKEYS run --`, 5 times each alternating, all on
 * the CPU bench_run runs on, medians.
 * The process makes no key call, so this is the interposed mmap and
 * munmap (and the seccomp filter pkeys run installs) when nothing is
 * keyed.  It needs this program linked dynamically: the preload cannot
 * reach a static one, and a static build says so and skips it.
 *
 * With PKEYS_RUN_SYSCALLS=kernel in the environment, pkeys run installs
 * no seccomp filter, which leaves the preload's share alone.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILES 2000
#define DIRS 40
#define WARMUP 3
#define MMAP_PAIRS 100000L
#define MMAP_ROUNDS 5
#define REGION (64 * 1024)

extern char **environ;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double tv(struct timeval t)
{
	return t.tv_sec + t.tv_usec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_run: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * Runs argv (found on PATH) with stdout to out, or to /dev/null when out
 * is -1, and waits.  Fills the CPU time of the child and its descendants
 * and the wall time, in seconds.  Returns the wait status.
 */
static int spawn(char *const argv[], int out, double *cpu, double *wall)
{
	posix_spawn_file_actions_t fa;
	struct rusage ru;
	double t0 = now();
	pid_t pid;
	int st, rc;

	posix_spawn_file_actions_init(&fa);
	if (out < 0)
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	else
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc) {
		errno = rc;
		die(argv[0]);
	}
	if (wait4(pid, &st, 0, &ru) != pid)
		die("wait4");
	*wall = now() - t0;
	*cpu = tv(ru.ru_utime) + tv(ru.ru_stime);
	return st;
}

/* spawn with stdout to /dev/null, which must succeed. */
static void must(char *const argv[], double *cpu, double *wall)
{
	double c, w;

	if (spawn(argv, -1, cpu ? cpu : &c, wall ? wall : &w) != 0) {
		fprintf(stderr, "bench_run: failed:");
		for (int i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
		exit(1);
	}
}

/* git -C dir ARG... (up to 4, then NULL), which must succeed. */
static void git(char *dir, ...)
{
	char *argv[8] = {"git", "-C", dir};
	va_list ap;
	int n = 3;

	va_start(ap, dir);
	while (n < 7 && (argv[n] = va_arg(ap, char *)))
		n++;
	va_end(ap);
	argv[n] = NULL;
	must(argv, NULL, NULL);
}

/*
 * The repository: FILES small files, dated a minute back so that none
 * is as new as the index (racily clean entries would be read again by
 * every git status), committed.
 */
static void make_repo(char *dir)
{
	struct timespec past[2] = {{time(NULL) - 60, 0}, {time(NULL) - 60, 0}};
	char path[PATH_MAX];

	if (!mkdtemp(dir))
		die("mkdtemp");
	for (int d = 0; d < DIRS; d++) {
		snprintf(path, sizeof(path), "%s/d%02d", dir, d);
		if (mkdir(path, 0755))
			die(path);
	}
	for (int i = 0; i < FILES; i++) {
		char text[32];
		int fd, n = snprintf(text, sizeof(text), "file %d\n", i);

		snprintf(path, sizeof(path), "%s/d%02d/f%04d.txt", dir,
			 i % DIRS, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, text, (size_t)n) != n ||
		    futimens(fd, past) || close(fd))
			die(path);
	}
	git(dir, "init", "-q", NULL);
	git(dir, "config", "user.name", "bench", NULL);
	git(dir, "config", "user.email", "bench@example.org", NULL);
	git(dir, "add", "-A", NULL);
	git(dir, "commit", "-q", "-m", "files", NULL);
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Whether path is an ELF program without an interpreter (static). */
static int is_static(const char *path)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(path, O_RDONLY | O_CLOEXEC), interp = 0;

	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	for (int i = 0; i < eh.e_phnum; i++)
		if (pread(fd, &ph, sizeof(ph),
			  (off_t)(eh.e_phoff + (size_t)i * eh.e_phentsize)) ==
			    (ssize_t)sizeof(ph) &&
		    ph.p_type == PT_INTERP)
			interp = 1;
	close(fd);
	return !interp;
}

/* The child of the mapping loop: ns per mmap+munmap pair, on stdout. */
static int mmap_loop(long n)
{
	double t0 = 0;

	for (long i = -1000; i < n; i++) {
		void *p;

		if (i == 0)
			t0 = now();
		p = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED || munmap(p, REGION))
			die("mmap");
	}
	printf("%.1f\n", (now() - t0) / (double)n * 1e9);
	return 0;
}

/* One run of the mapping loop's child: ns per pair. */
static double mmap_child(char *const argv[])
{
	char buf[64];
	double cpu, wall;
	ssize_t n;
	int fd[2];

	if (pipe(fd))
		die("pipe");
	if (spawn(argv, fd[1], &cpu, &wall) != 0) {
		fprintf(stderr, "bench_run: %s --mmap-loop failed\n", argv[0]);
		exit(1);
	}
	close(fd[1]);
	n = read(fd[0], buf, sizeof(buf) - 1);
	close(fd[0]);
	buf[n > 0 ? n : 0] = 0;
	return strtod(buf, NULL);
}

static void bench_mmap(char *self, char *pkeys)
{
	char pairs[24];
	double plain[MMAP_ROUNDS], run[MMAP_ROUNDS];
	cpu_set_t all, one;
	int cpu, pinned = 0;

	if (getauxval(AT_BASE) == 0) { /* no dynamic loader: static */
		printf("mmap+munmap: skipped (this build of bench_run is "
		       "static, where the preload cannot reach)\n");
		return;
	}
	snprintf(pairs, sizeof(pairs), "%ld", MMAP_PAIRS);
	/*
	 * Every child on the CPU this one runs on (they inherit the
	 * affinity): on this project's VM one virtual CPU runs the same
	 * loop at 3.9 us a pair and the other at 3.9 or 5.5-6.5 us from
	 * one process to the next, and which side drew the slow one
	 * decided the ratio (0.71x to 1.50x in four runs of one hour).
	 */
	if (sched_getaffinity(0, sizeof(all), &all) == 0 &&
	    (cpu = sched_getcpu()) >= 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = sched_setaffinity(0, sizeof(one), &one) == 0;
	}
	for (int r = 0; r < MMAP_ROUNDS; r++) {
		plain[r] = mmap_child((char *[]){self, "--mmap-loop", pairs, NULL});
		run[r] = mmap_child((char *[]){pkeys, "run", "--", self,
					       "--mmap-loop", pairs, NULL});
	}
	if (pinned)
		sched_setaffinity(0, sizeof(all), &all);
	double p = median(plain, MMAP_ROUNDS), q = median(run, MMAP_ROUNDS);

	printf("mmap+munmap of 64 KiB, %ld pairs, median of %d runs%s:\n",
	       MMAP_PAIRS, MMAP_ROUNDS, pinned ? ", on one CPU" : "");
	printf("  %-14s %9.1f ns/pair\n", "plain", p);
	printf("  %-14s %9.1f ns/pair  (%.3fx)\n", "pkeys run", q, q / p);
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "--exec") == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		return 127;
	}
	if (argc == 3 && strcmp(argv[1], "--mmap-loop") == 0)
		return mmap_loop(atol(argv[2]) > 0 ? atol(argv[2]) : MMAP_PAIRS);

	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	char self[PATH_MAX], pkeys[PATH_MAX + 16], wrapper[PATH_MAX + 24];
	char repo[] = "/tmp/bench_run.XXXXXX";
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (rounds < 1 || len <= 0) {
		fprintf(stderr, "usage: bench_run [ROUNDS [PKEYS [WRAPPER]]]\n");
		return 2;
	}
	self[len] = 0;
	slash = strrchr(self, '/');
	snprintf(pkeys, sizeof(pkeys), "%.*s/pkeys", (int)(slash - self), self);
	snprintf(wrapper, sizeof(wrapper), "%.*s/bench_run_static",
		 (int)(slash - self), self);
	if (argc > 2)
		snprintf(pkeys, sizeof(pkeys), "%s", argv[2]);
	if (argc > 3)
		snprintf(wrapper, sizeof(wrapper), "%s", argv[3]);
	else if (access(wrapper, X_OK))
		snprintf(wrapper, sizeof(wrapper), "%s", self);
	if (access(pkeys, X_OK))
		die(pkeys);

	/* Git's settings: the repository's own only. */
	if (setenv("GIT_CONFIG_NOSYSTEM", "1", 1) ||
	    setenv("GIT_CONFIG_GLOBAL", "/dev/null", 1))
		die("setenv");
	make_repo(repo);

	char *bare[] = {wrapper, "--exec", "git", "-C", repo, "status",
			"--porcelain", NULL};
	char *run[] = {pkeys, "run", "--", "git", "-C", repo, "status",
		       "--porcelain", NULL};
	char *const *cmd[2] = {bare, run};
	double *cpu[2], *wall[2], med[2][2];

	cpu[0] = malloc(4 * sizeof(double) * (size_t)rounds);
	if (!cpu[0])
		die("malloc");
	cpu[1] = cpu[0] + rounds;
	wall[0] = cpu[1] + rounds;
	wall[1] = wall[0] + rounds;
	for (int i = 0; i < 2 * WARMUP; i++)
		must(cmd[i & 1], NULL, NULL);
	for (int r = 0; r < rounds; r++)
		for (int k = 0; k < 2; k++) {
			int s = (r + k) & 1; /* who goes first alternates */

			must(cmd[s], &cpu[s][r], &wall[s][r]);
		}
	for (int s = 0; s < 2; s++) {
		med[s][0] = median(cpu[s], rounds) * 1e6;
		med[s][1] = median(wall[s], rounds) * 1e6;
	}
	free(cpu[0]);
	must((char *[]){"rm", "-rf", repo, NULL}, NULL, NULL);

	printf("git status --porcelain, %d files, %d rounds, medians:\n",
	       FILES, rounds);
	printf("  bare:      %s --exec (%s)\n", wrapper,
	       is_static(wrapper) ? "static"
				  : "NOT static: the bare side pays for the "
				    "dynamic loader");
	printf("  pkeys run: %s run --\n", pkeys);
	printf("  %-10s %12s %12s\n", "", "CPU us", "wall us");
	printf("  %-10s %12.0f %12.0f\n", "bare", med[0][0], med[0][1]);
	printf("  %-10s %12.0f %12.0f\n", "pkeys run", med[1][0], med[1][1]);
	printf("  %-10s %11.3fx %11.3fx\n", "ratio", med[1][0] / med[0][0],
	       med[1][1] / med[0][1]);
	printf("  %-10s %+12.0f %+12.0f\n", "per process", med[1][0] - med[0][0],
	       med[1][1] - med[0][1]);
	bench_mmap(self, pkeys);
	return 0;
}
