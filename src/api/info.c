/* SPDX-License-Identifier: MIT */
/* What the library and the machine offer: pk_init, pk_info, versions. */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/errors.h"
#include "arch/arch.h"
#include "backend/select.h"
#include "core/lock.h"
#include "os/sys.h"
#include "pkeys.h"

/*
 * Every call without a backend returns this error, also mapped: a
 * failure of the hardware backend's probe or set-up other than the
 * documented ones still means it cannot work here (EOPNOTSUPP).
 */
int pk_init(void)
{
	return pk__api_err(PK__CALL_INIT, pk__init_status());
}

const char *pk_backend_name(void)
{
	const struct pk__backend *b = pk__backend();

	return b ? b->name : "none";
}

const char *pk_backend_reason(void)
{
	return pk__backend_reason();
}

int pk_version(void)
{
	return PK_VERSION;
}

int pk_keys_available(void)
{
	const struct pk__backend *b = pk__ready();
	int n;

	if (!b)
		return pk_init();
	pk__lock_take();
	n = b->available();
	pk__lock_drop();
	return n;
}

int pk_info(struct pk_info *out)
{
	const struct pk__backend *b = pk__backend();
	long key;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	pk__arch_features(&out->cpu_pku, &out->cpu_ospke);
	out->feature_trap = pk__arch_feature_trap();
#ifdef SYS_pkey_alloc
	/* The raw call executes no key instruction, so it is safe anywhere. */
	if (b && b->hardware) {
		out->kernel_pkeys = 1;
	} else {
		key = pk__sys_pkey_alloc(0UL, (unsigned long)PK_DISABLE_ACCESS);
		if (key >= 0) {
			out->kernel_pkeys = 1;
			pk__sys_pkey_free(key);
		} else {
			out->kernel_errno = errno;
		}
	}
#else
	(void)key;
	out->kernel_errno = ENOSYS;
#endif
	out->backend = pk_backend_name();
	out->reason = pk__backend_reason();
	out->keys_total = b ? b->nkeys : 0;
	out->keys_available = b ? pk_keys_available() : 0;
	out->guarantee = b ? b->guarantee : "none: key calls fail";
	return 0;
}
