// SPDX-License-Identifier: MIT
// pkeys.hpp in use (make check, "cpp" on the emulation and on hardware
// keys in the VM): scoped rights come back, a domain guard enters and
// leaves, a vector on a pk_heap keeps its bytes in the key's pages (a
// read with the key closed faults there), errors throw.  Prints
// "cpp/ENV: N passed, N failed, 0 skipped".
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <pkeys.hpp>

static int passed, failed;

static void check(bool ok, const char *what)
{
	std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
	(ok ? passed : failed)++;
}

static void read_first(void *arg)
{
	volatile char *p = static_cast<char *>(arg);
	(void)*p;
}

int main()
{
	const char *env = std::getenv("PKTEST_ENV");
	int k = pk_key_alloc(0, PK_DISABLE_ACCESS), k2 = pk_key_alloc(0, 0);

	if (k <= 0 || k2 <= 0) {
		std::printf("cpp: no keys (%d %d): %s\n", k, k2, pk_backend_reason());
		return 1;
	}
	{
		pkeys::scoped_rights open(k, 0);
		check(pk_get(k) == 0, "scoped_rights opens the key");
		{
			pkeys::scoped_rights ro(k, PK_DISABLE_WRITE);
			check(pk_get(k) == PK_DISABLE_WRITE, "nested scoped_rights");
		}
		check(pk_get(k) == 0, "the inner scope's rights come back");
	}
	check(pk_get(k) == PK_DISABLE_ACCESS, "the outer scope's rights come back");
	{
		const pk_domain_entry d[] = {{k, 0}, {k2, PK_DISABLE_ACCESS}};
		pkeys::domain_guard g(d);
		check(pk_get(k) == 0 && pk_get(k2) == PK_DISABLE_ACCESS,
		      "domain_guard enters");
	}
	check(pk_get(k) == PK_DISABLE_ACCESS && pk_get(k2) == 0,
	      "domain_guard leaves");
	bool threw = false;
	try {
		pkeys::scoped_rights bad(5000, 0);
	} catch (const pkeys::error &e) {
		threw = e.code().value() == EINVAL;
	}
	check(threw, "a bad key throws pkeys::error with EINVAL");

	pk_heap *heap = nullptr;
	check(pk_heap_create(k, nullptr, &heap) == 0, "pk_heap_create");
	{
		std::vector<char, pkeys::heap_allocator<char>> secret{
			pkeys::heap_allocator<char>(heap)};
		{
			pkeys::scoped_rights open(k, 0);
			secret.assign(100, 's');
			check(secret[99] == 's', "a vector on the heap, written and read");
		}
		pk_fault f;
		int rc = pk_try(read_first, secret.data(), &f);
		check(rc == -EFAULT && f.key == k && f.addr == secret.data() &&
			      f.access == PK_ACCESS_READ,
		      "its bytes fault with the key closed");
		pkeys::scoped_rights open(k, 0);
		secret.clear();
		secret.shrink_to_fit();
	}
	check(pk_heap_destroy(heap, 0) == 0, "the heap is empty again");
	std::printf("cpp/%s: %d passed, %d failed, 0 skipped\n",
		    env ? env : "native", passed, failed);
	return failed != 0;
}
