#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# man-examples: the EXAMPLES section of every page in man/man3 and
# man/man7 holds a whole program, and that program compiles and runs.
#
# The program is the first .EX/.EE block of the section that defines
# main().  It is turned back into C (roff escapes undone), compiled with
# warnings as errors against include/ and BUILD-DIR's libpkeys, and run
# on the emulation here; it must exit 0 within 20 seconds.  With --vm
# the same binaries run again on hardware keys in the x86 VM
# (scripts/vm-run-each.sh).  Pages made of one ".so" line are skipped.
#
# Usage: scripts/man-examples.sh BUILD-DIR [--vm] [PAGE...]
# (PAGE: check only these, e.g. man/man3/pk_set.3; MAN_EXAMPLES_OUT: the
# folder for the programs, default BUILD-DIR/man-examples.)
# Prints one line per page and "man/ENV: N passed, N failed, 0 skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: $0 BUILD-DIR [--vm] [PAGE...]}
shift
vm=
if [ "${1:-}" = --vm ]; then
	vm=--vm
	shift
fi
pages=("$@")
[ ${#pages[@]} -gt 0 ] || pages=(man/man3/*.3 man/man7/*.7)
out=${MAN_EXAMPLES_OUT:-$build/man-examples}
rm -rf "$out"
mkdir -p "$out"
lib=$(cd "$build" && pwd)

# The program of page $1 on stdout, nothing when it has none.
program() {
	awk '
		/^\.SH / { in_ex = ($0 ~ /^\.SH EXAMPLES?$/); next }
		in_ex && /^\.EX/ { block = ""; on = 1; has_main = 0; next }
		in_ex && on && /^\.EE/ {
			on = 0
			if (has_main) { printf "%s", block; exit }
			next
		}
		on && /^(int[ \t]+)?main[ \t]*\(/ { has_main = 1 }
		on { block = block $0 "\n" }
	' "$1" | sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' \
		-e 's/\\(ti/~/g' -e 's/\\(ha/^/g' -e 's/\\(rs/\\\\/g' \
		-e 's/\\&//g' -e 's/\\e/\\/g'
}

passed=0 failed=0 bins=()
for page in "${pages[@]}"; do
	head -n1 "$page" | grep -q '^\.so ' && continue
	name=$(basename "$page")
	name=${name%.*}
	src=$out/$name.c
	program "$page" >"$src"
	if [ ! -s "$src" ]; then
		echo "FAIL $page: no whole program (main) in EXAMPLES"
		failed=$((failed + 1))
		continue
	fi
	if ! cc -std=gnu11 -Wall -Wextra -Werror -Iinclude -o "$out/$name" "$src" \
		-L"$lib" -lpkeys -lpthread -Wl,-rpath,"$lib" >"$out/$name.cc.log" 2>&1; then
		echo "FAIL $page: the example does not compile:"
		sed 's/^/    /' "$out/$name.cc.log" | head -20
		failed=$((failed + 1))
		continue
	fi
	if PKEYS_BACKEND=emu timeout 20 "$out/$name" >"$out/$name.log" 2>&1 </dev/null; then
		echo "PASS $page"
		passed=$((passed + 1))
		bins+=("$out/$name")
	else
		echo "FAIL $page: the example exited $? on the emulation:"
		sed 's/^/    /' "$out/$name.log" | tail -20
		failed=$((failed + 1))
	fi
done
echo "man/native-emu: $passed passed, $failed failed, 0 skipped"

if [ -n "$vm" ] && [ ${#bins[@]} -gt 0 ]; then
	bash scripts/vm-run-each.sh man/vm-hw "${bins[@]}" || failed=$((failed + 1))
fi
[ "$failed" -eq 0 ]
