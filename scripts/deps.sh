#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages a target needs, only when they are missing.
#   scripts/deps.sh build   compiler, make, cmake
#   scripts/deps.sh vm      also QEMU, Debian's cloud kernel, busybox, cpio,
#                           and, where the archive has it, a 6.12 cloud
#                           kernel (signal delivery changed with 6.12: the
#                           hardware suite runs on both)
#   scripts/deps.sh bench   also libsodium (the heap benchmark compares)
#   scripts/deps.sh fuzz    also clang (the fuzzer's libFuzzer entry)
#   scripts/deps.sh musl    also musl-gcc (musl-tools) and the kernel's
#                           headers (the musl build of make check)
#   scripts/deps.sh ppc     also the ppc64le cross compiler and QEMU's POWER
#                           machine, and, unpacked from Debian's ppc64el
#                           archive into $PKEYS_VM_CACHE/ppc64el (default
#                           /var/cache/pkeys-vm): a 6.1 kernel (64 KiB
#                           pages), a 6.12 kernel with 4 KiB pages and a
#                           static busybox, for tests/vm/run-in-vm.sh -a ppc64le
set -eu

missing="" optional=""
want() { # want PACKAGE TEST-COMMAND...
	pkg=$1; shift
	"$@" >/dev/null 2>&1 || missing="$missing $pkg"
}

want gcc command -v cc
want make command -v make
want cmake command -v cmake
if [ "${1:-build}" = fuzz ]; then
	want clang command -v clang
fi
if [ "${1:-build}" = musl ]; then
	want musl-tools command -v musl-gcc
	want linux-libc-dev test -e /usr/include/linux/filter.h
fi
if [ "${1:-build}" = bench ]; then
	want libsodium-dev sh -c "dpkg-query -W -f='\${Status}' libsodium-dev | grep -q 'ok installed'"
	# (bench_run times git status under pkeys run)
	want git command -v git
fi
if [ "${1:-build}" = vm ]; then
	want qemu-system-x86 command -v qemu-system-x86_64
	want linux-image-cloud-amd64 sh -c 'ls /boot/vmlinuz-*-cloud-amd64'
	want busybox-static sh -c "dpkg-query -W -f='\${Status}' busybox-static | grep -q 'ok installed'"
	want cpio command -v cpio
	# (make check lints the manual pages with mandoc too)
	want mandoc command -v mandoc
	# (fault reports give source lines when built with libdw)
	want libdw-dev test -e /usr/include/elfutils/libdwfl.h
	# (make check's install suite builds a consumer with pkg-config)
	want pkg-config command -v pkg-config
	ls /boot/vmlinuz-6.1[2-9]*-cloud-amd64 >/dev/null 2>&1 ||
		optional=linux-image-6.12-cloud-amd64
fi
# ppc: the guest's kernels and busybox come from the ppc64el archive, as
# files in a cache (never installed): "guest" names the pieces missing.
guest="" addarch=""
ppc_cache=${PKEYS_VM_CACHE:-/var/cache/pkeys-vm}/ppc64el
if [ "${1:-build}" = ppc ]; then
	want qemu-system-ppc command -v qemu-system-ppc64
	want qemu-system-data test -e /usr/share/qemu/skiboot.lid
	want gcc-powerpc64le-linux-gnu command -v powerpc64le-linux-gnu-gcc
	want libc6-dev-ppc64el-cross test -e /usr/powerpc64le-linux-gnu/lib/libc.so.6
	want cpio command -v cpio
	# Meta-packages naming the newest kernel of each kind.
	ls "$ppc_cache"/vmlinux-6.1.[0-9]*-powerpc64le >/dev/null 2>&1 ||
		guest="$guest linux-image-powerpc64le"
	ls "$ppc_cache"/vmlinux-6.1[2-9]*-powerpc64le >/dev/null 2>&1 ||
		guest="$guest linux-image-6.12-powerpc64le"
	[ -x "$ppc_cache/busybox" ] || guest="$guest busybox-static"
	dpkg --print-foreign-architectures | grep -qx ppc64el || addarch=ppc64el
fi
[ -z "$missing$optional$guest" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	[ -z "$guest" ] || missing="$missing (ppc64el, unpacked into $ppc_cache:$guest)"
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
[ -z "$missing$optional" ] ||
	echo "deps: installing$missing${optional:+ (and, if available, $optional)}"
export DEBIAN_FRONTEND=noninteractive
[ -z "$addarch" ] || dpkg --add-architecture "$addarch"
apt-get update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -qq $missing >/dev/null
if [ -n "$optional" ]; then
	apt-get install -y -qq "$optional" >/dev/null 2>&1 ||
		echo "deps: $optional is not in the archive; the VM suites run on one kernel" >&2
fi
[ -z "$guest" ] && exit 0

# Download the ppc64el packages and keep only boot/vmlinux-*, its config
# (run-in-vm.sh reads the page size there) and bin/busybox.
echo "deps: fetching into $ppc_cache:$guest (ppc64el)"
mkdir -p "$ppc_cache"
dl=$(mktemp -d "${TMPDIR:-/tmp}/pkeys-deps.XXXXXX")
trap 'rm -rf "$dl"' EXIT
chown _apt "$dl" 2>/dev/null || true # apt downloads as _apt where it can
pkgs=""
for p in $guest; do
	case $p in
	linux-image-*) # the kernel package the meta-package depends on
		real=$(apt-cache depends "$p:ppc64el" 2>/dev/null |
			sed -n 's/^  Depends: \(linux-image-[^:]*\).*/\1/p' | head -n1)
		if [ -z "$real" ]; then
			echo "deps: $p is not in the ppc64el archive" >&2
			continue
		fi
		pkgs="$pkgs $real:ppc64el" ;;
	*) pkgs="$pkgs $p:ppc64el" ;;
	esac
done
[ -n "$pkgs" ] || exit 1
# shellcheck disable=SC2086
(cd "$dl" && apt-get download -qq $pkgs >/dev/null)
for deb in "$dl"/*.deb; do
	rm -rf "$dl/x" && mkdir "$dl/x"
	dpkg-deb -x "$deb" "$dl/x"
	for f in "$dl"/x/boot/vmlinux-* "$dl"/x/boot/config-*; do
		if [ -e "$f" ]; then mv "$f" "$ppc_cache/"; fi
	done
	if [ -e "$dl/x/bin/busybox" ]; then mv "$dl/x/bin/busybox" "$ppc_cache/"; fi
done
if ! ls "$ppc_cache"/vmlinux-* >/dev/null 2>&1 || ! [ -x "$ppc_cache/busybox" ]; then
	echo "deps: could not unpack the ppc64el kernels and busybox into $ppc_cache" >&2
	exit 1
fi
