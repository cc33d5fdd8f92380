# SPDX-License-Identifier: MIT
# The seed systems' interfaces (include/pkeys/glibc.h, freebsd.h, aix.h),
# the preload library for unmodified glibc programs, and its test program.
target_sources(pkeys_objects PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src/compat/glibc.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/compat/rights_insn.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/compat/syscall_trap.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/compat/freebsd.c
  ${CMAKE_CURRENT_SOURCE_DIR}/src/compat/aix.c)

# libpkeys_preload.so is the whole library plus glibc's pkey_* names:
# built from the same objects, not linked against libpkeys.so, so that
# its interposers come before libc's definitions (see src/compat/preload.c).
add_library(pkeys_preload SHARED $<TARGET_OBJECTS:pkeys_objects>
  src/interpose/pthread_create.c src/interpose/signals.c src/compat/preload.c
  src/os/report_libs_loaded.c)
set_target_properties(pkeys_preload PROPERTIES
  C_VISIBILITY_PRESET hidden
  LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/src/pkeys.map)
target_include_directories(pkeys_preload PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/include)
target_link_libraries(pkeys_preload PRIVATE Threads::Threads ${CMAKE_DL_LIBS})
if(PKEYS_USE_LIBDW)
  target_compile_definitions(pkeys_preload PRIVATE PKEYS_HAVE_LIBDW=1)
endif()
if(PKEYS_HAVE_UNWIND)
  target_compile_definitions(pkeys_preload PRIVATE PKEYS_HAVE_UNWIND=1)
endif()
target_link_options(pkeys_preload PRIVATE
  -Wl,--version-script=${CMAKE_CURRENT_SOURCE_DIR}/src/pkeys.map -Wl,--no-undefined)
# Private: only `pkeys run` loads it, never a program's linker.
install(TARGETS pkeys_preload LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkeys)

# libpkeys_report.so: the fault report alone, which `pkeys run` preloads
# on hardware keys, where the program's pkey calls reach the kernel
# unchanged (src/compat/report.c).
add_library(pkeys_report SHARED src/compat/report.c src/compat/report_keys.c
  src/arch/ppc64.c src/os/backtrace.c
  src/os/report_libs_loaded.c src/os/srcline.c src/os/fmt.c src/os/sigaction.c)
set_target_properties(pkeys_report PROPERTIES C_VISIBILITY_PRESET hidden)
target_include_directories(pkeys_report PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/src ${CMAKE_CURRENT_SOURCE_DIR}/include)
if(PKEYS_HAVE_UNWIND)
  target_compile_definitions(pkeys_report PRIVATE PKEYS_HAVE_UNWIND=1)
endif()
if(PKEYS_USE_LIBDW)
  target_compile_definitions(pkeys_report PRIVATE PKEYS_HAVE_LIBDW=1)
endif()
target_link_libraries(pkeys_report PRIVATE ${CMAKE_DL_LIBS})
target_link_options(pkeys_report PRIVATE -Wl,--no-undefined)
install(TARGETS pkeys_report LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkeys)

# `pkeys run` finds the preload library beside itself (build tree), or
# in the install tree's libdir/pkeys relative to its bindir.
file(RELATIVE_PATH PKEYS_BIN_TO_LIB ${CMAKE_INSTALL_FULL_BINDIR}
  ${CMAKE_INSTALL_FULL_LIBDIR}/pkeys)
target_compile_definitions(pkeys_cli PRIVATE
  PKEYS_PRELOAD_NAME="$<TARGET_FILE_NAME:pkeys_preload>"
  PKEYS_REPORT_NAME="$<TARGET_FILE_NAME:pkeys_report>"
  PKEYS_BIN_TO_LIB="${PKEYS_BIN_TO_LIB}")
add_dependencies(pkeys_cli pkeys_preload pkeys_report)

# A program written for glibc's pkey calls alone: no pkeys header, no
# libpkeys.  tests/compat/unmodified.sh runs it plainly and under `pkeys
# run`; tests/compat/check.sh does that natively and in the VM.
# (glibc's pkey calls exist in glibc only: with musl there is no such
# program, only the ported one.)
if(BUILD_TESTING)
if(PKEYS_LIBC_GLIBC)
add_executable(glibc_pkey_program tests/compat/glibc_pkey_program.c)
add_dependencies(pktest glibc_pkey_program)
# Key numbers and rights as Linux gives them, the same way.
add_executable(pkey_numbers tests/compat/pkey_numbers.c)
add_dependencies(pktest pkey_numbers)
# Threads and signal handlers with keys, as Linux gives them.
add_executable(pkey_threads tests/compat/pkey_threads.c)
target_link_libraries(pkey_threads PRIVATE Threads::Threads)
add_dependencies(pktest pkey_threads)
# The rights register's instructions executed by the program itself.
add_executable(pkey_insn tests/compat/pkey_insn.c)
add_dependencies(pktest pkey_insn)
# Protection key system calls made directly with syscall(2).
add_executable(pkey_raw tests/compat/pkey_raw.c)
add_dependencies(pktest pkey_raw)
# Its cost under pkeys run (a glibc program too: bench/bench_rawcall.c).
add_executable(bench_rawcall bench/bench_rawcall.c)
endif()

# The same source ported: the header is its one change (forced in with
# -include, so the file stays as it is), and it links libpkeys.
add_executable(glibc_pkey_ported tests/compat/glibc_pkey_program.c)
target_compile_definitions(glibc_pkey_ported PRIVATE PKEYS_PORT=1)
target_compile_options(glibc_pkey_ported PRIVATE -include pkeys/glibc.h)
target_link_libraries(glibc_pkey_ported PRIVATE pkeys)
add_dependencies(pktest glibc_pkey_ported)
endif()
