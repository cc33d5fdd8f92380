#!/bin/sh
# SPDX-License-Identifier: MIT
# After make install / make uninstall: refresh the dynamic loader's cache
# when the library's folder is one it searches (as /usr/local/lib is on
# Debian), else say how programs will find the library.
#   scripts/ldconfig.sh LIBDIR
set -u
libdir=$1
if ! command -v ldconfig >/dev/null 2>&1 && [ -x /sbin/ldconfig ]; then
	PATH=$PATH:/sbin
fi
if ldconfig -v -N 2>/dev/null | grep -q "^$libdir:"; then
	if [ "$(id -u)" = 0 ]; then
		ldconfig && echo "install: ran ldconfig for $libdir"
	else
		echo "install: run ldconfig as root, so that the loader sees $libdir's changes"
	fi
else
	echo "install: $libdir is not a folder the dynamic loader searches: programs" \
		"find libpkeys.so there through an rpath, LD_LIBRARY_PATH, or a file in" \
		"/etc/ld.so.conf.d/ followed by ldconfig"
fi
