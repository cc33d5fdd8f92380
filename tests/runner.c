/* SPDX-License-Identifier: MIT */
/*
 * pktest: runs each test in its own process, with a time limit, on the
 * backend named by --backend (PKEYS_BACKEND is set in the child).
 *
 *   pktest [--backend hw|emu] [--list] [NAME...]
 *   pktest --inline NAME      one test in this process (for debuggers)
 *
 * Prints one line per test and a summary; exits 0 when nothing failed,
 * 1 when something did, 77 when every test was skipped.
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pktest.h"

struct test {
	const char *name;
	void (*fn)(void);
	int timeout;
};

static const struct test tests[] = {
#define T(name, timeout) {#name, test_##name, timeout},
#include "test-list.h"
#undef T
};
#define NTESTS (sizeof(tests) / sizeof(tests[0]))

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#if defined(__SANITIZE_THREAD__)
static void *nothing(void *arg)
{
	return arg;
}
#endif

static void child(const struct test *t, const char *backend)
{
	int hw = strcmp(backend, "hw") == 0, rc;

	setenv("PKEYS_BACKEND", backend, 1);
	setvbuf(stdout, NULL, _IONBF, 0);
#if defined(__SANITIZE_THREAD__)
	/*
	 * ThreadSanitizer starts a helper thread at the first pthread_create;
	 * start it now, before any key exists, so it holds no rights that
	 * would keep the emulation's pages open for the whole test.
	 * (Elsewhere the test starts with one thread, as the C library
	 * sees it: a thread created and joined here would make glibc
	 * say "maybe more" for good, and the library's paths for a
	 * program with one thread would go untested.)
	 */
	pthread_t helper;
	if (pthread_create(&helper, NULL, nothing, NULL) == 0)
		pthread_join(helper, NULL);
#endif
	rc = pk_init();
	if (rc) {
		printf("skip: %s\n", pk_backend_reason());
		_exit(77);
	}
	/* hw: whichever CPU's hardware backend; anything but the emulation. */
	if (hw ? strcmp(pk_backend_name(), "emu") == 0
	       : strcmp(pk_backend_name(), backend) != 0) {
		printf("backend is %s, wanted %s\n", pk_backend_name(), backend);
		_exit(1);
	}
	alarm((unsigned)t->timeout);
	t->fn();
	_exit(0);
}

/* The pseudo-test that checks the backend can be chosen at all. */
static void probe(void)
{
}

/* Run one test; its output is captured and shown under its result. */
static int run(const struct test *t, const char *backend, char *why,
	       size_t whylen)
{
	int fds[2], status = 0, killed = 0;
	char out[8192];
	size_t used = 0;
	ssize_t n;
	double start = now(), secs;
	pid_t pid;

	fflush(stdout);
	if (pipe(fds))
		return 1;
	pid = fork();
	if (pid == 0) {
		/* Its own process group: the runner can end it and its children. */
		setpgid(0, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		close(fds[1]);
		child(t, backend);
	}
	close(fds[1]);
	setpgid(pid, pid);
	/*
	 * The child's alarm() ends a hung test, and the pipe closes with it.
	 * A test stuck with SIGALRM blocked (inside the library's lock), or
	 * a process it forked that keeps the pipe open, is ended here after
	 * the time limit and 5 s more.
	 */
	for (;;) {
		struct pollfd pfd = {fds[0], POLLIN, 0};
		double left = t->timeout + 5 - (now() - start);

		if (left <= 0) {
			kill(-pid, SIGKILL);
			killed = 1;
			break;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		if (used < sizeof(out) - 1) {
			n = read(fds[0], out + used, sizeof(out) - 1 - used);
			if (n > 0)
				used += (size_t)n;
		} else {
			char drop[512]; /* output beyond what is shown */
			n = read(fds[0], drop, sizeof(drop));
		}
		if (n <= 0)
			break;
	}
	out[used] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	secs = now() - start;
	if (killed) {
		printf("FAIL %-32s time limit (%d s): ended by the runner\n",
		       t->name, t->timeout);
		if (used)
			printf("     | %s%s", out, out[used - 1] == '\n' ? "" : "\n");
		return 1;
	}

	why[0] = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
		const char *s = strstr(out, "skip: ");
		snprintf(why, whylen, "%s", s ? s + 6 : "no reason given");
		why[strcspn(why, "\n")] = 0;
		if (t->fn != probe)
			printf("SKIP %-32s %s\n", t->name, why);
		return 77;
	}
	if (t->fn == probe)
		return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		printf("PASS %-32s %6.0f ms\n", t->name, secs * 1000);
		return 0;
	}
	if (WIFSIGNALED(status))
		printf("FAIL %-32s killed by signal %d%s\n", t->name,
		       WTERMSIG(status),
		       WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
	else
		printf("FAIL %-32s exit %d\n", t->name, WEXITSTATUS(status));
	if (used)
		printf("     | %s%s", out, out[used - 1] == '\n' ? "" : "\n");
	return 1;
}

int pkt_no_backend_main(void);

int main(int argc, char **argv)
{
	const char *backend = "emu", *env = getenv("PKTEST_ENV");
	int passed = 0, failed = 0, skipped = 0, first = 1;
	char why[256], lastwhy[256] = "";

	if (argc == 2 && strcmp(argv[1], "--no-backend") == 0)
		return pkt_no_backend_main();
	/* For debuggers: run one test in this process, on PKEYS_BACKEND. */
	if (argc == 3 && strcmp(argv[1], "--inline") == 0) {
		for (size_t i = 0; i < NTESTS; i++)
			if (strcmp(argv[2], tests[i].name) == 0) {
				tests[i].fn();
				return 0;
			}
		return 2;
	}
	for (; first < argc && argv[first][0] == '-'; first++) {
		if (strcmp(argv[first], "--backend") == 0 && first + 1 < argc) {
			backend = argv[++first];
		} else if (strcmp(argv[first], "--list") == 0) {
			for (size_t i = 0; i < NTESTS; i++)
				printf("%s\n", tests[i].name);
			return 0;
		} else {
			fprintf(stderr, "usage: pktest [--backend hw|emu] "
					"[--list] [NAME...]\n");
			return 2;
		}
	}
	if (strcmp(backend, "hw") != 0 && strcmp(backend, "emu") != 0) {
		fprintf(stderr, "pktest: unknown backend %s\n", backend);
		return 2;
	}
	/* A backend that cannot work here skips every test for one reason. */
	if (run(&(struct test){"backend", probe, 10}, backend, why,
		sizeof(why)) == 77) {
		printf("%s/%s: 0 passed, 0 failed, %zu skipped (%s)\n", backend,
		       env ? env : "native", first == argc ? NTESTS
							 : (size_t)(argc - first),
		       why);
		return 77;
	}
	for (size_t i = 0; i < NTESTS; i++) {
		int selected = first == argc;
		for (int a = first; a < argc; a++)
			selected |= strcmp(argv[a], tests[i].name) == 0;
		if (!selected)
			continue;
		switch (run(&tests[i], backend, why, sizeof(why))) {
		case 0: passed++; break;
		case 77: skipped++; snprintf(lastwhy, sizeof(lastwhy), "%s", why); break;
		default: failed++; break;
		}
	}
	printf("%s/%s: %d passed, %d failed, %d skipped%s%s%s\n", backend,
	       env ? env : "native", passed, failed, skipped,
	       skipped ? " (" : "", skipped ? lastwhy : "", skipped ? ")" : "");
	if (failed)
		return 1;
	return passed == 0 && skipped ? 77 : 0;
}
