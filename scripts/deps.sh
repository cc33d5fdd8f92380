#!/bin/sh
# Install the Debian packages a target needs, only when they are missing.
#   scripts/deps.sh build   compiler, make, cmake
#   scripts/deps.sh vm      also QEMU, Debian's cloud kernel, busybox, cpio,
#                           and, where the archive has it, a 6.12 cloud
#                           kernel (signal delivery changed with 6.12: the
#                           hardware suite runs on both)
#   scripts/deps.sh bench   also libsodium (the heap benchmark compares)
set -eu

missing="" optional=""
want() { # want PACKAGE TEST-COMMAND...
	pkg=$1; shift
	"$@" >/dev/null 2>&1 || missing="$missing $pkg"
}

want gcc command -v cc
want make command -v make
want cmake command -v cmake
if [ "${1:-build}" = bench ]; then
	want libsodium-dev sh -c "dpkg-query -W -f='\${Status}' libsodium-dev | grep -q 'ok installed'"
fi
if [ "${1:-build}" = vm ]; then
	want qemu-system-x86 command -v qemu-system-x86_64
	want linux-image-cloud-amd64 sh -c 'ls /boot/vmlinuz-*-cloud-amd64'
	want busybox-static sh -c "dpkg-query -W -f='\${Status}' busybox-static | grep -q 'ok installed'"
	want cpio command -v cpio
	ls /boot/vmlinuz-6.1[2-9]*-cloud-amd64 >/dev/null 2>&1 ||
		optional=linux-image-6.12-cloud-amd64
fi
[ -z "$missing$optional" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps: missing packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "deps: installing$missing${optional:+ (and, if available, $optional)}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
[ -z "$missing" ] || apt-get install -y -qq $missing >/dev/null
if [ -n "$optional" ]; then
	apt-get install -y -qq "$optional" >/dev/null 2>&1 ||
		echo "deps: $optional is not in the archive; the VM suites run on one kernel" >&2
fi
