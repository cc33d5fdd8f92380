/* SPDX-License-Identifier: MIT */
/* Keys: allocation, rights, counts, exhaustion, backend facts. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pktest.h"

void test_alloc_rights(void)
{
	static const unsigned rights[] = {0, PK_DISABLE_WRITE, PK_DISABLE_ACCESS,
					  PK_DISABLE_ACCESS | PK_DISABLE_WRITE};

	for (size_t i = 0; i < sizeof(rights) / sizeof(rights[0]); i++) {
		int k = pkt_key(rights[i]);
		CHECK(k >= 1 && k < 1024);
		CHECK_EQ(pk_get(k), rights[i]);
		CHECK_EQ(pk_set(k, 0), 0);
		CHECK_EQ(pk_get(k), 0);
		CHECK_EQ(pk_key_free(k), 0);
	}
	CHECK_EQ(pk_get(PK_KEY_DEFAULT), 0);
	CHECK_EQ(pk_set(PK_KEY_DEFAULT, 0), 0);
}

void test_available_counts(void)
{
	int n = pk_keys_available(), k;

	CHECK(n >= 1);
	k = pkt_key(0);
	CHECK_EQ(pk_keys_available(), n - 1);
	CHECK_EQ(pk_key_free(k), 0);
	CHECK_EQ(pk_keys_available(), n);
}

void test_exhaustion(void)
{
	struct pk_info info;
	int n = pk_keys_available(), got = 0, k;
	static int keys[1024];
	static char seen[1024];

	pk_info(&info);
	while ((k = pk_key_alloc(0, PK_DISABLE_ACCESS)) > 0) {
		CHECK(got < 1024);
		CHECK(k < info.keys_total);
		CHECK(!seen[k]);
		seen[k] = 1;
		keys[got++] = k;
	}
	CHECK_EQ(k, -ENOSPC);
	CHECK_EQ(got, n);
	CHECK_EQ(pk_keys_available(), 0);
	/* A failed allocation changed nothing: the keys still work. */
	CHECK_EQ(pk_get(keys[0]), PK_DISABLE_ACCESS);
	for (int i = 0; i < got; i++)
		CHECK_EQ(pk_key_free(keys[i]), 0);
	CHECK_EQ(pk_keys_available(), n);
	k = pkt_key(0);
	CHECK_EQ(pk_key_free(k), 0);
}

void test_backend_info(void)
{
	struct pk_info info;
	const char *env = getenv("PKEYS_BACKEND");

	CHECK_EQ(pk_info(&info), 0);
	CHECK_EQ(pk_info(NULL), -EINVAL);
	CHECK(strcmp(info.backend, pk_backend_name()) == 0);
	CHECK(info.reason && info.reason[0]);
	CHECK(info.guarantee && info.guarantee[0]);
	CHECK_EQ(info.keys_total, 1024);
	CHECK_EQ(info.keys_available, pk_keys_available());
	CHECK_EQ(pk_version(), PK_VERSION);
	if (env && strcmp(env, "hw") == 0) {
		CHECK(strcmp(info.backend, "emu") != 0);
		CHECK(info.cpu_pku && info.cpu_ospke && info.kernel_pkeys);
	} else {
		CHECK(strcmp(info.backend, "emu") == 0);
	}
	/* The kernel cannot hand out keys the CPU cannot enforce. */
	if (!info.cpu_ospke)
		CHECK(!info.kernel_pkeys);
	/* The feature trap is the kernel's CPUID faulting on x86: setting
	 * the mode every program has (CPUID enabled) works only there. */
#if defined(__x86_64__)
	CHECK_EQ(info.feature_trap,
		 syscall(SYS_arch_prctl, 0x1012 /* ARCH_SET_CPUID */, 1L) == 0);
#else
	CHECK_EQ(info.feature_trap, 0);
#endif
	CHECK(info.spare[0] == NULL && info.spare[2] == NULL);
}

/*
 * Run in a fresh process (pktest --no-backend, PKEYS_BACKEND set by the
 * test): with no usable backend every key call fails with pk_init's
 * error, and key 0 still works.
 */
int pkt_no_backend_main(void)
{
	char *p = pkt_map(1, PROT_READ | PROT_WRITE);
	int err = pk_init();
	struct pk_info info;

	CHECK(err == -EINVAL || err == -EOPNOTSUPP);
	CHECK_EQ(pk_init(), err);
	CHECK(strcmp(pk_backend_name(), "none") == 0);
	CHECK(pk_backend_reason()[0] != 0);
	CHECK_EQ(pk_key_alloc(0, 0), err);
	CHECK_EQ(pk_key_free(1), err);
	CHECK_EQ(pk_set(1, 0), err);
	CHECK_EQ(pk_get(1), err);
	CHECK_EQ(pk_keys_available(), err);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ, 1), err);
	CHECK_EQ(pk_get(PK_KEY_DEFAULT), 0);
	CHECK_EQ(pk_set(PK_KEY_DEFAULT, 0), 0);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ, PK_KEY_DEFAULT), 0);
	EXPECT_FAULT(p, W, -1);
	CHECK_EQ(pk_mprotect(p, pkt_page(), PROT_READ | PROT_WRITE, -1), 0);
	EXPECT_OK(p, W);
	CHECK_EQ(pk_info(&info), 0);
	CHECK(strcmp(info.backend, "none") == 0);
	CHECK_EQ(info.keys_available, 0);
	return 0;
}

static int run_without_backend(const char *env, const char *emu_mode)
{
	int status;
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		setenv("PKEYS_BACKEND", env, 1);
		if (emu_mode)
			setenv("PKEYS_EMU", emu_mode, 1);
		execl("/proc/self/exe", "pktest", "--no-backend", (char *)NULL);
		_exit(127);
	}
	CHECK_EQ(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void test_no_backend(void)
{
	struct pk_info info;

	CHECK_EQ(run_without_backend("bogus", NULL), 0);
	/* Forcing the hardware backend where it cannot work is an error. */
	pk_info(&info);
	if (!info.cpu_ospke)
		CHECK_EQ(run_without_backend("hw", NULL), 0);
	/* So is an emulation mode it does not have (EINVAL). */
	CHECK_EQ(run_without_backend("emu", "bogus"), 0);
}
