/* SPDX-License-Identifier: MIT */
/*
 * pkeys.hpp: a thin C++ layer over <pkeys.h> and <pkeys/heap.h>, header
 * only (C++11).  Nothing here adds state or cost beyond the C calls:
 *
 *   pkeys::scoped_rights   this thread's rights for a key for one scope,
 *                          the previous ones back at its end
 *   pkeys::domain_guard    pk_domain_enter for one scope, pk_domain_leave
 *                          at its end
 *   pkeys::heap_allocator  a standard allocator over a pk_heap, so that
 *                          std::vector<char, heap_allocator<char>> keeps
 *                          its bytes in keyed pages
 *
 * Errors: constructors that cannot do their job throw pkeys::error (a
 * std::system_error with the errno value), or, when built without
 * exceptions, call std::terminate.
 */
#ifndef PKEYS_HPP
#define PKEYS_HPP

#include <cstddef>
#include <exception>
#include <new>
#include <system_error>

#include <pkeys.h>
#include <pkeys/heap.h>

namespace pkeys {

class error : public std::system_error {
public:
	error(int rc, const char *what)
		: std::system_error(-rc, std::generic_category(), what) {}
};

namespace detail {
inline void check(int rc, const char *what)
{
	if (rc >= 0)
		return;
#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
	throw error(rc, what);
#else
	(void)what;
	std::terminate();
#endif
}
} // namespace detail

/* Rights for key in this thread while in scope: pk_set(3). */
class scoped_rights {
public:
	scoped_rights(int key, unsigned rights) : key_(key), old_(pk_get(key))
	{
		detail::check(old_, "pk_get");
		detail::check(pk_set(key, rights), "pk_set");
	}
	~scoped_rights() { (void)pk_set(key_, (unsigned)old_); }
	scoped_rights(const scoped_rights &) = delete;
	scoped_rights &operator=(const scoped_rights &) = delete;

private:
	int key_, old_;
};

/* A domain entered for one scope: pk_domain_enter(3). */
class domain_guard {
public:
	domain_guard(const pk_domain_entry *entries, int n)
	{
		detail::check(pk_domain_enter(entries, n, &saved_),
			      "pk_domain_enter");
	}
	template <std::size_t N>
	explicit domain_guard(const pk_domain_entry (&entries)[N])
		: domain_guard(entries, (int)N) {}
	~domain_guard() { (void)pk_domain_leave(&saved_); }
	domain_guard(const domain_guard &) = delete;
	domain_guard &operator=(const domain_guard &) = delete;

private:
	pk_domain_saved saved_;
};

/*
 * A standard allocator over a pk_heap the program created (and destroys
 * after every container using it).  Allocations need no rights for the
 * heap's key; touching the elements does (scoped_rights).
 */
template <class T> class heap_allocator {
public:
	using value_type = T;

	explicit heap_allocator(pk_heap *heap) noexcept : heap_(heap) {}
	template <class U>
	heap_allocator(const heap_allocator<U> &other) noexcept
		: heap_(other.heap()) {}

	T *allocate(std::size_t n)
	{
		static_assert(alignof(T) <= 16, "pk_heap aligns to 16 bytes");
		void *p = nullptr;

		if (n > (std::size_t)-1 / sizeof(T) ||
		    pk_heap_alloc(heap_, n * sizeof(T), &p) != 0)
			throw std::bad_alloc();
		return static_cast<T *>(p);
	}
	void deallocate(T *p, std::size_t) noexcept
	{
		(void)pk_heap_free(heap_, p);
	}
	pk_heap *heap() const noexcept { return heap_; }

private:
	pk_heap *heap_;
};

template <class T, class U>
bool operator==(const heap_allocator<T> &a, const heap_allocator<U> &b) noexcept
{
	return a.heap() == b.heap();
}
template <class T, class U>
bool operator!=(const heap_allocator<T> &a, const heap_allocator<U> &b) noexcept
{
	return !(a == b);
}

} // namespace pkeys

#endif
