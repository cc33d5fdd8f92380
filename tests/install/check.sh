#!/bin/sh
# SPDX-License-Identifier: MIT
# Install like a user would, then build and run a consumer against the
# installed library (make check, "install"):
#   - make install PREFIX=A from a release build: the library without
#     the test hook, the preload library in lib/pkeys/, pkeys run using
#     it, a consumer through find_package (shared and static) and
#     through pkg-config; make uninstall leaves no file behind;
#   - cmake --install BUILD --prefix B (another prefix than configured):
#     pkeys.pc and the CMake package still point into B.
# Prints "install/native: N passed, N failed, 0 skipped".
set -u
cd "$(dirname "$0")/../.."
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && tail -5 "$2"; }
check() { # check NAME COMMAND...
	name=$1
	shift
	if "$@" >"$tmp/log" 2>&1; then ok "$name"; else bad "$name" "$tmp/log"; fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
A=$tmp/a B=$tmp/b build=$tmp/build

check "release build and make install PREFIX=A" \
	make install BUILD="$build" PREFIX="$A"
lib=$(dirname "$(grep -m1 '/libpkeys\.so$' "$build/install_manifest.txt")")
check "no test hook in the release library" \
	sh -c "! nm -D '$lib/libpkeys.so' | grep -q pk__test"
check "the preload library is private (lib/pkeys/)" \
	test -f "$lib/pkeys/libpkeys_preload.so" -a ! -e "$lib/libpkeys_preload.so"
check "the installed pkeys run finds it" sh -c \
	"PKEYS_BACKEND=emu '$A/bin/pkeys' run -- sh -c 'echo \$LD_PRELOAD' | grep -qx '$lib/pkeys/libpkeys_preload.so'"
for kind in shared static; do
	s=OFF
	[ $kind = static ] && s=ON
	check "find_package(pkeys), $kind: builds" sh -c \
		"cmake -S tests/install/consumer -B '$tmp/c-$kind' -DSTATIC=$s \
			-DCMAKE_PREFIX_PATH='$A' && cmake --build '$tmp/c-$kind'"
	check "find_package(pkeys), $kind: runs" sh -c \
		"LD_LIBRARY_PATH='$lib' '$tmp/c-$kind/consumer' | grep -q '^pkeys 0\.'"
done
check "pkg-config: builds" sh -c \
	"cc -o '$tmp/pc' tests/install/consumer/consumer.c \
		\$(PKG_CONFIG_PATH='$lib/pkgconfig' pkg-config --cflags --libs pkeys)"
check "pkg-config: runs" sh -c "LD_LIBRARY_PATH='$lib' '$tmp/pc' | grep -q '^pkeys 0\.'"
check "make uninstall" make uninstall BUILD="$build"
check "nothing left in A" sh -c "[ -z \"\$(find '$A' -type f)\" ]"

check "cmake --install --prefix B (configured for A)" \
	cmake --install "$build" --prefix "$B"
libb=$(dirname "$(grep -m1 '/libpkeys\.so$' "$build/install_manifest.txt")")
check "pkeys.pc points into B" sh -c \
	"PKG_CONFIG_PATH='$libb/pkgconfig' pkg-config --cflags pkeys | grep -q -- '-I$B/'"
check "pkg-config against B: builds and runs" sh -c \
	"cc -o '$tmp/pcb' tests/install/consumer/consumer.c \
		\$(PKG_CONFIG_PATH='$libb/pkgconfig' pkg-config --cflags --libs pkeys) &&
	 LD_LIBRARY_PATH='$libb' '$tmp/pcb' | grep -q '^pkeys 0\.'"
check "find_package(pkeys) against B: builds and runs" sh -c \
	"cmake -S tests/install/consumer -B '$tmp/c-b' -DCMAKE_PREFIX_PATH='$B' &&
	 cmake --build '$tmp/c-b' && LD_LIBRARY_PATH='$libb' '$tmp/c-b/consumer' | grep -q '^pkeys 0\.'"
check "make uninstall (B)" make uninstall BUILD="$build"
check "nothing left in B" sh -c "[ -z \"\$(find '$B' -type f)\" ]"
echo "install/native: $pass passed, $fail failed, 0 skipped"
[ "$fail" = 0 ]
