#!/bin/sh
# SPDX-License-Identifier: MIT
# pkeys scan against tests/cli/scan_target.c (make check, "scan"): every
# WRPKRU and XRSTOR found, in the function holding it, the one hidden in
# an immediate too; nothing in data or in an LFENCE; exit 1 when found,
# 0 when nothing, 2 on error; the same through --json and --pid.
#   tests/cli/scan.sh BUILD-DIR
set -u
b=${1:-build}
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { # check NAME COMMAND...: the command succeeds
	name=$1
	shift
	if "$@"; then ok "$name"; else bad "$name"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null' EXIT

"$b/pkeys" scan "$b/scan_target" >"$tmp/out" 2>"$tmp/err"
check "exit 1 when found" [ $? = 1 ]
check "four hits" [ "$(wc -l <"$tmp/out")" = 4 ]
for f in has_wrpkru:wrpkru hidden_in_immediate:wrpkru has_xrstor:xrstor has_xrstor64:xrstor64; do
	check "${f%%:*}: ${f#*:}" grep -q ": ${f#*:} (.*) in ${f%%:*}+0x" "$tmp/out"
done
check "nothing in has_lfence" sh -c "! grep -q has_lfence '$tmp/out'"
# Each hit's file offset holds the bytes it names.
while read -r line; do
	off=$(echo "$line" | sed -n 's/.*: offset \(0x[0-9a-f]*\) .*/\1/p')
	want=$(echo "$line" | sed -n 's/.*(\([0-9a-f ]*\)).*/\1/p')
	n=$(echo "$want" | wc -w)
	got=$(od -An -tx1 -j "$((off))" -N "$n" "$b/scan_target" | tr -s ' ' | sed 's/^ //;s/ $//')
	check "bytes at $off are $want" [ "$got" = "$want" ]
done <"$tmp/out"
"$b/pkeys" scan --json "$b/scan_target" >"$tmp/json"
check "--json: exit 1" [ $? = 1 ]
check "--json: four objects" [ "$(grep -c '"instruction"' "$tmp/json")" = 4 ]
check "--json: a symbol" grep -q '"symbol": "hidden_in_immediate"' "$tmp/json"
printf 'int main(void) { return 0; }\n' >"$tmp/clean.c"
if cc -O2 -o "$tmp/clean" "$tmp/clean.c"; then
	"$b/pkeys" scan "$tmp/clean" >/dev/null
	check "exit 0 when nothing" [ $? = 0 ]
fi
"$b/pkeys" scan "$tmp/clean.c" >/dev/null 2>&1
check "exit 2 for a file that is not ELF" [ $? = 2 ]
"$b/pkeys" scan "$tmp/missing" >/dev/null 2>&1
check "exit 2 for a missing file" [ $? = 2 ]
"$b/pkeys" scan --bogus "$b/scan_target" >/dev/null 2>&1
check "exit 2 for an unknown option" [ $? = 2 ]
"$b/scan_target" wait &
pid=$!
sleep 0.3
"$b/pkeys" scan --pid "$pid" >"$tmp/pid"
check "--pid: exit 1" [ $? = 1 ]
check "--pid: four hits in the program's mapping" \
	[ "$(grep -c "^$pid .*scan_target: " "$tmp/pid")" = 4 ]
echo "scan/native: $pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
