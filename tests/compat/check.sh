#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The unmodified-program check (tests/compat/unmodified.sh) on this
# machine and inside the QEMU VM whose CPU has PKU (tests/vm/run-in-vm.sh).
#
#   tests/compat/check.sh [BUILD-DIR]     (default: build)
#
# Prints each environment's checks and its line "unmodified/ENV: N
# passed, N failed, N skipped"; a VM that does not boot counts as one
# failure.  Exits 1 when anything failed.
set -u -o pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
status=0

for f in pkeys libpkeys_preload.so libpkeys_report.so glibc_pkey_program glibc_pkey_ported; do
	if [ ! -f "$build/$f" ]; then
		echo "unmodified/native: 0 passed, 1 failed, 0 skipped ($build/$f is missing)"
		exit 1
	fi
done

echo "-- native"
sh tests/compat/unmodified.sh "$build" native || status=1

echo "-- vm"
bash tests/vm/run-in-vm.sh -t 600 -f "$build/pkeys" \
	-f "$build/libpkeys_preload.so" -f "$build/libpkeys_report.so" \
	-f "$build/glibc_pkey_program" -f "$build/pkey_numbers" \
	-f "$build/pkey_threads" -f "$build/pkey_insn" -f "$build/pkey_raw" \
	-f "$build/glibc_pkey_ported" \
	-f tests/compat/unmodified.sh -- sh /bin/unmodified.sh /bin vm
case $? in
0) ;;
125)
	echo "unmodified/vm: 0 passed, 1 failed, 0 skipped (the VM did not run)"
	status=1
	;;
*) status=1 ;;
esac
exit $status
