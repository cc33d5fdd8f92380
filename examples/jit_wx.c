/* SPDX-License-Identifier: MIT */
/*
 * jit_wx: a JIT's code buffer that only the compiling code may write.
 *
 * The classic way to keep JIT code W^X is to flip the buffer between
 * writable and executable with mprotect(2) on every compile: a system
 * call each way, and a window in which every thread may write the code.
 * With a key the buffer is mapped read-write-execute once and carries a
 * key that is closed for writing; the compiler opens it for its own
 * thread only, around the writes (one register write each way on key
 * hardware).  Rights never stop instruction fetches, so the code runs
 * whatever the rights.
 *
 * Linux's memory-deny-write-execute (prctl PR_SET_MDWE, 6.3 and later,
 * also set by systemd's MemoryDenyWriteExecute=) refuses any mapping
 * that is writable and executable at once, so the keyed RWX buffer
 * cannot exist there.  The program then uses two views of one memfd: a
 * read-write view carrying the key (for the compiler) and a separate
 * read-execute view (for running).  MDWE allows that; the key still
 * keeps stray writes out of the writable view.  The second half runs in
 * a child process with MDWE set, where the kernel has it.
 *
 * Exits 0 when every step behaves as described, on either backend.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pkeys.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif

#define CODE_BYTES 4096

/* "Compile" a function returning value: the CPU's bytes for it. */
static size_t emit_return(uint8_t *at, int32_t value)
{
#if defined(__x86_64__)
	at[0] = 0xb8; /* mov eax, imm32 */
	memcpy(at + 1, &value, 4);
	at[5] = 0xc3; /* ret */
	return 6;
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
	uint32_t insn[2] = {0x38600000u | ((uint32_t)value & 0xffff), /* li 3 */
			    0x4e800020u};			      /* blr */
	memcpy(at, insn, sizeof(insn));
	return sizeof(insn);
#else
	(void)at;
	(void)value;
	return 0;
#endif
}

/* Write the code with the key open for this thread only. */
static int compile(int key, uint8_t *rw, uint8_t *rx, int32_t value)
{
	int rc = pk_set(key, 0);
	size_t n;

	if (rc)
		return rc;
	n = emit_return(rw, value);
	pk_set(key, PK_DISABLE_WRITE);
	__builtin___clear_cache((char *)rx, (char *)rx + n);
	return n ? 0 : -ENOTSUP;
}

static void stray_write(void *p)
{
	((volatile uint8_t *)p)[0] = 0xcc;
}

/* Run the code at rx and check it returns value. */
static int runs(const uint8_t *rx, int32_t value)
{
	int32_t (*fn)(void);

	memcpy(&fn, &rx, sizeof(fn));
	return fn() == value;
}

/* The keyed RWX buffer.  0 when all went as described. */
static int rwx_buffer(void)
{
	struct pk_fault f;
	void *buf = NULL;
	int key = pk_key_alloc(0, PK_DISABLE_WRITE), rc;

	if (key < 0)
		return fprintf(stderr, "pk_key_alloc: %s\n", strerror(-key)), 1;
	rc = pk_mmap(&buf, CODE_BYTES, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS, key);
	if (rc)
		return fprintf(stderr, "pk_mmap: %s\n", strerror(-rc)), 1;
	if (compile(key, buf, buf, 42) || !runs(buf, 42))
		return fprintf(stderr, "the compiled code did not run\n"), 1;
	/* A stray write elsewhere in the program is stopped by the key. */
	if (pk_try(stray_write, buf, &f) != -EFAULT || f.key != key)
		return fprintf(stderr, "a stray write went through\n"), 1;
	/* Recompiling needs no mprotect, only the key. */
	if (compile(key, buf, buf, 7) || !runs(buf, 7))
		return fprintf(stderr, "recompiled code did not run\n"), 1;
	printf("RWX buffer under key %d: compiled, ran, stray write stopped\n",
	       key);
	pk_munmap(buf, CODE_BYTES);
	pk_key_free(key);
	return 0;
}

/* Under MDWE: RWX refused, the two-view buffer works.  Child process. */
static int two_views(void)
{
	struct pk_fault f;
	void *rw = NULL, *rx;
	int key, fd, rc;

	if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L)) {
		printf("no memory-deny-write-execute in this kernel: skipped\n");
		return 0;
	}
	key = pk_key_alloc(0, PK_DISABLE_WRITE);
	if (key < 0)
		return 1;
	rc = pk_mmap(&rw, CODE_BYTES, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS, key);
	if (rc != -EACCES)
		return fprintf(stderr, "MDWE let RWX through: %d\n", rc), 1;
	fd = memfd_create("jit", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, CODE_BYTES))
		return perror("memfd"), 1;
	/* Two views of the same pages; the writable one takes the key. */
	rw = mmap(NULL, CODE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	rx = mmap(NULL, CODE_BYTES, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	if (rw == MAP_FAILED || rx == MAP_FAILED)
		return perror("mmap"), 1;
	if ((rc = pk_mprotect(rw, CODE_BYTES, PROT_READ | PROT_WRITE, key)))
		return fprintf(stderr, "pk_mprotect: %s\n", strerror(-rc)), 1;
	if (compile(key, rw, rx, 99) || !runs(rx, 99))
		return fprintf(stderr, "two-view code did not run\n"), 1;
	if (pk_try(stray_write, rw, &f) != -EFAULT || f.key != key)
		return fprintf(stderr, "a stray write went through\n"), 1;
	printf("under MDWE: RWX refused (EACCES); two views of a memfd, the "
	       "writable one under key %d: compiled, ran, stray write stopped\n",
	       key);
	return 0;
}

int main(void)
{
	int rc, status;
	pid_t pid;

	if ((rc = pk_init()) != 0) {
		fprintf(stderr, "pk_init: %s (%s)\n", strerror(-rc),
			pk_backend_reason());
		return 1;
	}
	if (emit_return((uint8_t[8]){0}, 0) == 0) {
		printf("no code generator for this CPU: nothing to show\n");
		return 0;
	}
	printf("backend: %s\n", pk_backend_name());
	if (rwx_buffer())
		return 1;
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		rc = two_views();
		fflush(stdout);
		_exit(rc);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return 1;
	return WEXITSTATUS(status);
}
