#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# man-check: the manual pages cover the API and format cleanly.
#
#   1. Every function declared PK_API in include/pkeys.h and
#      include/pkeys/*.h whose name starts with pk_ has man/man3/<name>.3
#      (its own page, or a ".so man3/<page>.3" stub whose target names
#      the function in its NAME section).  The compat headers' pkeys_*
#      names need only their layer's page: include/pkeys/glibc.h ->
#      man/man3/pkeys_glibc.3, and so on.
#   2. Every page under man/ formats without a warning under groff
#      (groff -man -t -ww -z) and under mandoc -Tlint, each where it is
#      installed (skipped, with a message, when neither is); for stubs
#      mandoc reports errors only (it calls every .so "fragile").  Stubs
#      are resolved relative to man/, as man(1) does, and their target
#      must exist.
#   3. Every page of man3 that is not a stub has the sections NAME,
#      LIBRARY, SYNOPSIS, DESCRIPTION, RETURN VALUE, ERRORS, ATTRIBUTES
#      (thread and async-signal safety), COST, EXAMPLES (its program is
#      scripts/man-examples.sh's) and SEE ALSO.
#   4. Every cross-reference to one of the project's own pages (pk_*,
#      pkeys_*, pkeys(1), libpkeys(7)) names a page that exists, in its
#      section.
#
# Run from the repository root (scripts/check.sh runs it).  Prints what
# fails, then one summary line; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

problems=()

# The function names a header declares with PK_API, one a line.  A
# declaration may span lines: join it up to its ';' first.
api_names() {
	awk '
		/^[[:space:]]*PK_API[[:space:]]/ { decl = ""; on = 1 }
		on { decl = decl " " $0 }
		on && /;/ { print decl; on = 0 }
	' "$1" | sed -E -n \
		's/^[[:space:]]*PK_API[^(]*[^A-Za-z0-9_(]([A-Za-z_][A-Za-z0-9_]*)[[:space:]]*\(.*$/\1/p'
}

# The page a .so stub points to (relative to man/), or nothing.
so_target() {
	sed -n -E '1{s/^\.so[[:space:]]+([^[:space:]]+)[[:space:]]*$/\1/p;}' "$1"
}

# Whether the NAME section of page $1 lists function $2.
names_function() {
	sed -n '/^\.SH NAME/,/^\.SH /p' "$1" | grep -q -E "(^|[^A-Za-z0-9_])$2([^A-Za-z0-9_]|$)"
}

# 1. Every PK_API function has a page.
nfuncs=0
for header in include/pkeys.h include/pkeys/*.h; do
	[ -f "$header" ] || continue
	declared=$(grep -c -E '^[[:space:]]*PK_API[[:space:]]' "$header")
	names=$(api_names "$header")
	found=$(printf '%s' "$names" | grep -c .)
	if [ "$declared" -ne "$found" ]; then
		problems+=("$header: $declared PK_API declarations, but only $found function names could be read")
	fi
	for name in $names; do
		nfuncs=$((nfuncs + 1))
		case $name in
		pkeys_*)
			base=$(basename "$header" .h)
			page=man/man3/pkeys_$base.3
			[ "$header" = include/pkeys.h ] && page=man/man3/$name.3
			[ -f "$page" ] || problems+=("$name ($header): no page $page")
			continue
			;;
		esac
		page=man/man3/$name.3
		if [ ! -f "$page" ]; then
			problems+=("$name ($header): no page $page")
			continue
		fi
		target=$(so_target "$page")
		[ -n "$target" ] && page=man/$target
		if [ -f "$page" ] && ! names_function "$page" "$name"; then
			problems+=("$name: $page does not list it in its NAME section")
		fi
	done
done

# 2. Every page formats without a warning.
npages=0
lint=""
for tool in groff mandoc; do
	command -v $tool >/dev/null 2>&1 && lint="$lint${lint:+ and }$tool"
done
for page in man/man*/*.[0-9]; do
	[ -f "$page" ] || continue
	npages=$((npages + 1))
	rel=${page#man/}
	target=$(so_target "$page")
	if [ -n "$target" ]; then
		if [ ! -f "man/$target" ]; then
			problems+=("$page: .so target man/$target does not exist")
			continue
		fi
		if [ -n "$(so_target "man/$target")" ]; then
			problems+=("$page: .so target man/$target is itself a stub")
		fi
		if [ "$(grep -c . "$page")" -ne 1 ]; then
			problems+=("$page: a stub holds more than its .so line")
		fi
	fi
	if command -v groff >/dev/null 2>&1; then
		out=$(cd man && groff -man -t -ww -z "$rel" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			problems+=("$page: groff reports (exit $rc):"$'\n'"$out")
		fi
	fi
	if command -v mandoc >/dev/null 2>&1; then
		level=warning
		[ -n "$target" ] && level=error
		out=$(cd man && mandoc -Tlint -W $level "$rel" 2>&1)
		rc=$?
		if [ $rc -ne 0 ] || [ -n "$out" ]; then
			problems+=("$page: mandoc -Tlint reports (exit $rc):"$'\n'"$out")
		fi
	fi
done

# 3. Every function page has the sections a reader looks for.
for page in man/man3/*.3; do
	[ -n "$(so_target "$page")" ] && continue
	for sec in NAME LIBRARY SYNOPSIS DESCRIPTION "RETURN VALUE" ERRORS \
		ATTRIBUTES COST EXAMPLES "SEE ALSO"; do
		grep -q "^\.SH $sec\$" "$page" ||
			problems+=("$page: no $sec section")
	done
done

# 4. Cross-references to the project's pages resolve: ".BR pk_set (3)",
# ".BR libpkeys (7)" and the like.
nrefs=0
while read -r page name sec; do
	# pkeys(7) is the Linux man-pages' page on the kernel's interface.
	[ "$name $sec" = "pkeys 7" ] && continue
	nrefs=$((nrefs + 1))
	[ -f "man/man$sec/$name.$sec" ] ||
		problems+=("$page: refers to $name($sec), which has no page man/man$sec/$name.$sec")
done < <(grep -H -o -E '^\.B[RI]? +(pk_[a-z_]+|pkeys_[a-z]+|pkeys|libpkeys) +\(([1-8])\)' man/man*/*.[0-9] |
	sed -E 's/^([^:]+):\.B[RI]? +([a-z_]+) +\(([1-8])\).*/\1 \2 \3/')
[ -n "$lint" ] || echo "man-check: neither groff nor mandoc is installed: formatting not checked"

for p in "${problems[@]}"; do
	echo "FAIL $p"
done
if [ ${#problems[@]} -eq 0 ]; then
	echo "man-check: ok: $nfuncs PK_API functions all documented, $npages pages${lint:+ clean under $lint}, $nrefs references to own pages resolve"
else
	echo "man-check: ${#problems[@]} problems ($nfuncs PK_API functions, $npages pages${lint:+, formatted with $lint})"
	exit 1
fi
