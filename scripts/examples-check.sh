#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# examples-check: every program in examples/ runs to its end and exits 0
# (each checks its own steps), on the emulation here and, with --vm, on
# hardware keys in the x86 VM.  Part of make check.
#
# Usage: scripts/examples-check.sh BUILD-DIR [--vm]
# Prints one line per program and "examples/ENV: N passed, N failed, 0 skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: $0 BUILD-DIR [--vm]}
names=()
for src in examples/*.c; do
	n=$(basename "$src" .c)
	[ -x "$build/$n" ] && names+=("$n")
done
p=0 f=0
for n in "${names[@]}"; do
	if PKEYS_BACKEND=emu timeout 60 "$build/$n" >"$build/$n.example.log" 2>&1 </dev/null; then
		echo "PASS $n"
		p=$((p + 1))
	else
		echo "FAIL $n: exit $? on the emulation:"
		sed 's/^/    /' "$build/$n.example.log" | tail -20
		f=$((f + 1))
	fi
done
echo "examples/native-emu: $p passed, $f failed, 0 skipped"
if [ "${2:-}" = --vm ]; then
	progs=()
	for n in "${names[@]}"; do
		progs+=("$build/$n")
	done
	bash scripts/vm-run-each.sh examples/vm-hw "${progs[@]}" || f=$((f + 1))
fi
[ "$f" -eq 0 ]
