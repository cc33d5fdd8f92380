# SPDX-License-Identifier: MIT
# Cross-compile for Linux on POWER, little-endian (ppc64le), with Debian's
# cross toolchain (apt-get install gcc-powerpc64le-linux-gnu
# libc6-dev-ppc64el-cross; scripts/deps.sh ppc does it):
#   cmake -B build-ppc64le -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-ppc64le.cmake
# The binaries run in QEMU's POWER9 machine:
#   bash tests/vm/run-in-vm.sh -a ppc64le -f build-ppc64le/pktest ... -- pktest
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ppc64le)

set(PKEYS_CROSS_TRIPLE powerpc64le-linux-gnu)
set(CMAKE_C_COMPILER ${PKEYS_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${PKEYS_CROSS_TRIPLE}-g++)
set(CMAKE_AR ${PKEYS_CROSS_TRIPLE}-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${PKEYS_CROSS_TRIPLE}-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${PKEYS_CROSS_TRIPLE}-strip CACHE FILEPATH "")

# Headers and libraries from the target's root only; programs from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${PKEYS_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
