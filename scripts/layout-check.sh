#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The source layout's two rules, checked (part of make check):
#
# 1. No cycle between source files.  A file depends on another when it
#    includes its header or uses a symbol the other defines (read from
#    the built objects with nm, so a call through a header declared
#    elsewhere counts too).  A .c file and its .h are one unit.
# 2. CPU specifics live in src/arch/: the x86 words PKRU, WRPKRU,
#    RDPKRU, CPUID and cpuid.h appear nowhere else in src/, include/ or
#    tools/ (the FreeBSD layer's API names x86_pkru_* and AMD64_PKRU_*
#    excepted, and tools/scan.*, the scanner of x86 machine code, which
#    reads x86 files on any host), and no file outside src/arch/ tests a
#    CPU macro.
# 3. Every source builds for a CPU without hardware keys (arch/none.h).
#
# Usage: scripts/layout-check.sh BUILD-DIR
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: $0 BUILD-DIR}
fail=0

# --- 1. the dependency graph ------------------------------------------
edges=$(mktemp)
trap 'rm -f "$edges" "$edges".*' EXIT

unit() { # src/core/lock.c -> core/lock
	local u=${1#src/}
	echo "${u%.*}"
}

# Include edges: "x/y.h" is resolved against src/, then the file's folder.
while IFS= read -r f; do
	dir=$(dirname "$f")
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		if [ -e "src/$inc" ]; then
			target=src/$inc
		elif [ -e "$dir/$inc" ]; then
			target=$dir/$inc
		else
			continue
		fi
		a=$(unit "$f") b=$(unit "$target")
		[ "$a" = "$b" ] || echo "$a $b" >>"$edges"
	done
done < <(find src -name '*.[ch]' | sort)

# Symbol edges: every object built from src/, its defined and undefined
# global symbols.
objs=$(find "$build" -path '*/CMakeFiles/*' -path '*/src/*' -name '*.c.o' | sort)
if [ -z "$objs" ]; then
	echo "layout: no objects under $build (build first)" >&2
	exit 1
fi
# The C library's own names that a file defines to stand in for it (the
# interposers: mmap, sigaction, syscall, ...) are left out: a file that
# calls syscall(2) depends on the C library, not on a stand-in that may
# share its shared object.
libc=$(${CC:-cc} -print-file-name=libc.so.6)
nm -D --defined-only "$libc" 2>/dev/null | awk '{ sub(/@.*/, "", $NF); print $NF }' |
	sort -u >"$edges.libc"
for o in $objs; do
	u=${o#*/src/}
	u=${u%.c.o}
	nm -g --defined-only "$o" | awk -v u="$u" 'NF == 3 { print $3, u }'
done | sort -u | join -v 1 - "$edges.libc" >"$edges.def"
for o in $objs; do
	u=${o#*/src/}
	u=${u%.c.o}
	nm -u "$o" | awk -v u="$u" '{ print $NF, u }'
done | sort -u >"$edges.use"
# symbol definer / symbol user -> "user definer"
join "$edges.use" "$edges.def" | awk '$2 != $3 { print $2, $3 }' >>"$edges"
sort -u "$edges" -o "$edges"

if ! tsort "$edges" >/dev/null 2>"$edges.loop"; then
	echo "layout: the source files depend on each other in a cycle:"
	sed -n 's/^tsort: //p' "$edges.loop" | grep -v 'input contains a loop' | sed 's/^/  /'
	echo "  (edges: 'A B' means A depends on B)"
	# Show the edges among the files of the first loop reported.
	members=$(sed -n 's/^tsort: //p' "$edges.loop" | grep -v 'input contains' | tr '\n' '|')
	members=${members%|}
	[ -n "$members" ] && grep -E "^($members) ($members)$" "$edges" | sed 's/^/    /'
	fail=1
fi

# --- 2. CPU words outside src/arch/ -----------------------------------
hits=$(grep -rnEi 'pkru|cpuid' src include tools --include='*.[ch]' |
	grep -v '^src/arch/' | grep -v '^tools/scan\.[ch]:' |
	sed -E 's/(pkeys_)?x86_pkru_[a-z_]*//g; s/AMD64_PKRU_[A-Z_]*//g' |
	grep -Ei 'pkru|cpuid')
if [ -n "$hits" ]; then
	echo "layout: x86 words outside src/arch/:"
	echo "$hits" | sed 's/^/  /'
	fail=1
fi
hits=$(grep -rnE '^[[:space:]]*#[[:space:]]*(if|elif|ifdef|ifndef).*(__x86_64__|__i386__|__powerpc|__PPC|__aarch64__|__arm__)' \
	src include tools --include='*.[ch]' | grep -v '^src/arch/')
if [ -n "$hits" ]; then
	echo "layout: CPU tests outside src/arch/:"
	echo "$hits" | sed 's/^/  /'
	fail=1
fi

# --- 3. a CPU without hardware keys -----------------------------------
# Every source compiles, warning-free, with the arch layer of a CPU the
# library has no key primitives for (arch/none.h): what an ARM64 or
# RISC-V build gets.
for f in $(find src -name '*.c' | sort); do
	if ! out=$(${CC:-cc} -std=gnu11 -D_GNU_SOURCE -DPKEYS_NO_HW_KEYS -fsyntax-only \
		-Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Werror \
		-Iinclude -Isrc "$f" 2>&1); then
		echo "layout: $f does not build without hardware keys:"
		echo "$out" | head -5 | sed 's/^/  /'
		fail=1
	fi
done

if [ "$fail" = 0 ]; then
	n=$(find src -name '*.[ch]' | wc -l)
	e=$(wc -l <"$edges")
	echo "layout: $n files, $e dependencies, no cycle; CPU specifics only in src/arch/; builds without hardware keys"
fi
exit "$fail"
