#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vm-run-each: run programs one after the other on hardware keys in the
# x86 VM (one boot for all), each with a time limit, and count them.
#
# Usage: scripts/vm-run-each.sh LABEL PROGRAM...
# Prints "PASS name (hw)" or the failure's last lines per program, then
# "LABEL: N passed, N failed, 0 skipped"; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
label=${1:?usage: $0 LABEL PROGRAM...}
shift
args=() names=()
for prog in "$@"; do
	args+=(-f "$prog")
	names+=("${prog##*/}")
done
bash tests/vm/run-in-vm.sh -t 600 "${args[@]}" -- sh -c '
	p=0 f=0
	for n in '"${names[*]}"'; do
		if PKEYS_BACKEND=hw timeout 120 /bin/$n >/tmp/out 2>&1 </dev/null; then
			echo "PASS $n (hw)"; p=$((p + 1))
		else
			echo "FAIL $n (hw), exit $?:"; tail -20 /tmp/out; f=$((f + 1))
		fi
	done
	echo "'"$label"': $p passed, $f failed, 0 skipped"
	[ $f -eq 0 ]'
