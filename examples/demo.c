/* SPDX-License-Identifier: MIT */
/*
 * demo: keep a secret behind a protection key.
 *
 * The secret's page carries a key whose rights are closed by default.  A
 * stray write (a bug elsewhere in the program) is stopped by the key and
 * reported; the code that needs the secret opens an access window around
 * its use and closes it again.  Last, a stray write nobody recovers from
 * ends a child process with the library's report, as it would end a
 * real program.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pkeys.h>

/* A bug: writes through a pointer that should not reach the secret. */
void __attribute__((noinline)) stray_write(void *p);
void __attribute__((noinline)) stray_write(void *p)
{
	((volatile char *)p)[3] = 'X';
}

int main(void)
{
	struct pk_fault fault;
	char report[512];
	void *secret = NULL;
	int key, rc, status;
	pid_t pid;

	if ((rc = pk_init()) != 0) {
		fprintf(stderr, "pk_init: %s (%s)\n", strerror(-rc),
			pk_backend_reason());
		return 1;
	}
	printf("backend: %s (%s)\n\n", pk_backend_name(), pk_backend_reason());

	key = pk_key_alloc(0, 0);
	if (key < 0) {
		fprintf(stderr, "pk_key_alloc: %s\n", strerror(-key));
		return 1;
	}
	pk_key_set_name(key, "demo-secret");
	/* Mapped with its key from the start: never reachable without it. */
	rc = pk_mmap(&secret, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE, key);
	if (rc) {
		fprintf(stderr, "pk_mmap: %s\n", strerror(-rc));
		return 1;
	}
	strcpy(secret, "correct horse battery staple");
	pk_set(key, PK_DISABLE_ACCESS);
	printf("1. secret stored at %p under key %d; access closed\n", secret,
	       key);

	printf("2. a stray write hits the secret's page...\n");
	rc = pk_try(stray_write, secret, &fault);
	if (rc != -EFAULT || fault.key != key) {
		printf("   NOT stopped: the secret was overwritten\n");
		return 1;
	}
	pk_fault_format(&fault, report, sizeof(report));
	printf("   stopped and recovered; the report:\n   %s", report);
	printf("   rights after recovery: %d (PK_DISABLE_ACCESS, as before)\n",
	       pk_get(key));

	printf("3. open a read window, use the secret, close it\n");
	pk_set(key, PK_DISABLE_WRITE);
	printf("   secret: \"%s\"\n", (char *)secret);
	pk_set(key, PK_DISABLE_ACCESS);
	printf("   window closed; rights now %d (PK_DISABLE_ACCESS)\n",
	       pk_get(key));

	printf("4. the same bug in a process that does not recover:\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		pk_fault_report(0);
		stray_write(secret);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSEGV) {
		printf("   the child was not stopped\n");
		return 1;
	}
	printf("   the child died of SIGSEGV after the report above\n");

	pk_munmap(secret, 4096);
	pk_key_free(key);
	printf("\ndone: the stray writes were stopped and reported\n");
	return 0;
}
