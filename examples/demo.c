/*
 * demo: keep a secret behind a protection key.
 *
 * The secret's page carries a key whose rights are closed by default.  A
 * stray write (a bug elsewhere in the program) is stopped by the key and
 * reported; the code that needs the secret opens an access window around
 * its use and closes it again.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pkeys.h>

static sigjmp_buf recover;
static struct pk_fault fault;
static int key_fault;

static void on_segv(int sig, siginfo_t *info, void *uc)
{
	(void)sig;
	key_fault = pk_fault_decode(info, uc, &fault);
	siglongjmp(recover, 1);
}

/* A bug: writes past the end of a buffer into whatever follows it. */
static void __attribute__((noinline)) stray_write(volatile char *p)
{
	p[0] = 'X';
}

int main(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct sigaction sa;
	char *secret;
	int key, rc;

	if ((rc = pk_init()) != 0) {
		fprintf(stderr, "pk_init: %s (%s)\n", strerror(-rc),
			pk_backend_reason());
		return 1;
	}
	printf("backend: %s (%s)\n\n", pk_backend_name(), pk_backend_reason());

	secret = mmap(NULL, page, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (secret == MAP_FAILED)
		return 1;
	key = pk_key_alloc(0, 0);
	if (key < 0) {
		fprintf(stderr, "pk_key_alloc: %s\n", strerror(-key));
		return 1;
	}
	strcpy(secret, "correct horse battery staple");
	pk_mprotect(secret, page, PROT_READ | PROT_WRITE, key);
	pk_set(key, PK_DISABLE_ACCESS);
	printf("1. secret stored at %p under key %d; access closed\n",
	       (void *)secret, key);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	printf("2. a stray write hits the secret's page...\n");
	if (sigsetjmp(recover, 1) == 0) {
		stray_write(secret + 3);
		printf("   NOT stopped: the secret was overwritten\n");
		return 1;
	}
	/* The kernel runs handlers with its own rights: put ours back. */
	pk_set(key, PK_DISABLE_ACCESS);
	printf("   stopped: %s of %p, key %d, thread rights %s\n",
	       fault.access == PK_ACCESS_WRITE ? "write" : "read", fault.addr,
	       fault.key,
	       fault.rights & PK_DISABLE_ACCESS ? "access-disabled"
	       : fault.rights & PK_DISABLE_WRITE ? "write-disabled"
						 : "open");
	if (!key_fault || fault.key != key)
		return 1;

	printf("3. open a read window, use the secret, close it\n");
	pk_set(key, PK_DISABLE_WRITE);
	printf("   secret: \"%s\"\n", secret);
	pk_set(key, PK_DISABLE_ACCESS);
	printf("   window closed; rights now %d (PK_DISABLE_ACCESS)\n",
	       pk_get(key));

	pk_mprotect(secret, page, PROT_READ | PROT_WRITE, PK_KEY_DEFAULT);
	pk_key_free(key);
	munmap(secret, page);
	printf("\ndone: the stray write was stopped and reported\n");
	return 0;
}
