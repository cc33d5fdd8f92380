#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# header-check: every public header builds on its own, warning-free under
# -Wall -Wextra -pedantic, as strict C99 and C11, as GNU C and as C++, with
# gcc and (when installed) clang.  With _POSIX_C_SOURCE 200809L the whole
# API is declared, pk_fault_decode and pk_sigaltstack included (strict
# ISO modes without it leave them out: their types are POSIX's).
#
# Run from anywhere (scripts/check.sh runs it).  Prints what fails, then
# one summary line; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
problems=0
builds=0

compilers=(gcc g++)
command -v clang >/dev/null && compilers+=(clang clang++)

try() { # try HEADER CC FLAGS...: compile a file that includes HEADER
	local header=$1 cc=$2 src=$tmp/t.c
	shift 2
	case $cc in *++) src=$tmp/t.cc ;; esac
	{
		echo "#include <$header>"
		# Every declaration must be usable, not merely parse.
		echo "int main(void) { return $USE; }"
	} >"$src"
	builds=$((builds + 1))
	if ! "$cc" -Wall -Wextra -pedantic -Werror -Iinclude "$@" -c "$src" \
		-o "$tmp/t.o" 2>"$tmp/err"; then
		echo "header-check: <$header> fails with $cc $*:"
		head -5 "$tmp/err"
		problems=$((problems + 1))
	fi
}

for header in pkeys.h pkeys/heap.h pkeys/freebsd.h pkeys/aix.h pkeys/glibc.h; do
	USE=0
	for cc in "${compilers[@]}"; do
		case $cc in
		*++) try "$header" "$cc" -std=c++11 ;;
		*)
			try "$header" "$cc" -std=c99
			try "$header" "$cc" -std=c11
			try "$header" "$cc" -std=gnu11
			;;
		esac
	done
done

# The calls that need POSIX types, declared once POSIX is asked for.
USE='pk_fault_decode(0, 0, 0) + pk_sigaltstack(0, 0)'
for cc in "${compilers[@]}"; do
	case $cc in
	*++) try pkeys.h "$cc" -std=c++11 ;;
	*)
		try pkeys.h "$cc" -std=c99 -D_POSIX_C_SOURCE=200809L
		try pkeys.h "$cc" -std=c11 -D_POSIX_C_SOURCE=200809L
		try pkeys.h "$cc" -std=gnu11
		;;
	esac
done

# The C++ layer, header only: as C++11 and C++17, pedantic.
for cc in "${compilers[@]}"; do
	case $cc in *++) ;; *) continue ;; esac
	for std in c++11 c++17; do
		builds=$((builds + 1))
		echo '#include <pkeys.hpp>' >"$tmp/hpp.cc"
		echo 'int main() { pkeys::heap_allocator<int> a(nullptr); return a.heap() != nullptr; }' >>"$tmp/hpp.cc"
		if ! "$cc" -Wall -Wextra -pedantic -Werror -Iinclude -std=$std -c "$tmp/hpp.cc" \
			-o "$tmp/hpp.o" 2>"$tmp/err"; then
			echo "header-check: <pkeys.hpp> fails with $cc -std=$std:"
			head -5 "$tmp/err"
			problems=$((problems + 1))
		fi
	done
done

# README's first example, as shown (with "..." taken out), with
# <pkeys.h> its only include: the header brings what its API needs
# (PROT_* and MAP_* from <sys/mman.h>).
{
	echo "#include <pkeys.h>"
	echo "void use(char *secret);"
	echo "void example(char *secret, size_t len);"
	echo "void example(char *secret, size_t len)"
	echo "{"
	sed -n '/^```c$/,/^```$/p' README.md | sed -n '1,/^```$/p' |
		grep -v '^```' | grep -v '^#include <pkeys.h>$' | grep -v '^\.\.\.$'
	echo "}"
} >"$tmp/readme.c"
for cc in "${compilers[@]}"; do
	case $cc in *++) continue ;; esac
	builds=$((builds + 1))
	if ! "$cc" -Wall -Wextra -Werror -Iinclude -std=gnu11 -c "$tmp/readme.c" \
		-o "$tmp/readme.o" 2>"$tmp/err"; then
		echo "header-check: README's first example fails with $cc:"
		head -5 "$tmp/err"
		problems=$((problems + 1))
	fi
done

if [ "$problems" -ne 0 ]; then
	echo "header-check: $problems of $builds builds failed"
	exit 1
fi
echo "header-check: ok: $builds builds of the public headers (${compilers[*]})"
