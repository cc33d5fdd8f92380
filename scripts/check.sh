#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# make check: every test suite, per backend and environment, then one
# closing line "N passed, N failed".
#
#   native    emulation suite, in its default and its exact mode
#             (PKEYS_EMU=exact), and the hardware suite (skipped here
#             unless the CPU has PKU), release build with -Werror
#   asan      the emulation suite under AddressSanitizer + UBSan
#   tsan      the emulation suite under ThreadSanitizer
#   vm        both suites inside a QEMU VM whose CPU has PKU, so the
#             hardware backend always runs; a VM that does not boot, or
#             a hardware suite that skips there, counts as a failure
#   vm-old    the hardware suite again, on the oldest cloud kernel
#             installed when it is an older series (6.1 beside 6.12)
#   unmodified  a program built against glibc's pkey calls alone, run
#             plainly and under `pkeys run`, natively and in the VM
#   layout    no dependency cycle between source files, no CPU words
#             outside src/arch/ (scripts/layout-check.sh)
#   man       every page lints clean (groff, mandoc), and its EXAMPLES
#             program compiles and runs, on the emulation and on
#             hardware keys in the VM (scripts/man-examples.sh)
#   musl      the library and the suite built with musl-gcc: emulation
#             here, hardware keys in the VM
#   ppc64     the library and tests cross-built for ppc64le, both suites
#             in QEMU's POWER9 machine: on a 64 KiB-page kernel (6.1,
#             28 keys) and on a 4 KiB-page one (6.12, 4 keys); the
#             unmodified-program checks there too
set -uo pipefail
cd "$(dirname "$0")/.."

out=build-check
mkdir -p "$out"
rm -f "$out"/*.log
failures=()

sh scripts/deps.sh vm || failures+=("deps: could not install what the tests need")

echo "== man pages"
bash scripts/man-check.sh || failures+=("man: scripts/man-check.sh found problems")

echo "== headers"
bash scripts/header-check.sh || failures+=("headers: scripts/header-check.sh found problems")

build() { # build DIR CMAKE-ARGS...
	local dir=$1
	shift
	cmake -S . -B "$dir" -DBUILD_TESTING=ON -DPKEYS_WERROR=ON "$@" >"$out/cmake-$dir.log" 2>&1 &&
		cmake --build "$dir" -j2 >>"$out/cmake-$dir.log" 2>&1 || {
		tail -30 "$out/cmake-$dir.log"
		failures+=("build $dir failed (log: $out/cmake-$dir.log)")
		return 1
	}
}

# Seconds each suite took, for the summary: where make check's time goes.
timings=()
suite() { # suite NAME COMMAND...: run one suite, keep its output
	local name=$1 start=$SECONDS
	shift
	echo "== $name"
	"$@" 2>&1 | tee "$out/$name.log"
	local rc=${PIPESTATUS[0]}
	timings+=("$name $((SECONDS - start))")
	case $rc in
	0 | 1 | 77) ;;
	*) failures+=("$name: runner exited $rc") ;;
	esac
}

if build build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
	echo "== layout"
	bash scripts/layout-check.sh build ||
		failures+=("layout: scripts/layout-check.sh found a cycle or CPU words outside src/arch/")
	[ -x build/scan_target ] && suite scan sh tests/cli/scan.sh build
	# Each page's example program, compiled and run on the emulation
	# here and on hardware keys in the VM.
	suite man-examples bash scripts/man-examples.sh build --vm
	grep -q '^man/vm-hw: [1-9][0-9]* passed' "$out/man-examples.log" ||
		failures+=("man-examples: the examples did not run on hardware keys in the VM")
	# The programs in examples/, likewise.
	suite examples bash scripts/examples-check.sh build --vm
	grep -q '^examples/vm-hw: [1-9][0-9]* passed' "$out/examples.log" ||
		failures+=("examples: the examples did not run on hardware keys in the VM")
	suite install sh tests/install/check.sh
	if [ -x build/hpp_check ]; then
		suite cpp env PKTEST_ENV=native-emu PKEYS_BACKEND=emu ./build/hpp_check
		suite cpp-vm bash tests/vm/run-in-vm.sh -t 300 -f build/hpp_check -- sh -c \
			'PKTEST_ENV=vm-hw PKEYS_BACKEND=hw hpp_check; PKTEST_ENV=vm-emu PKEYS_BACKEND=emu hpp_check'
	fi
	suite emu-native ./build/pktest --backend emu
	# The emulation's exact mode: the same suite, per-thread rights.
	PKTEST_ENV=exact PKEYS_EMU=exact suite emu-exact ./build/pktest --backend emu
	suite hw-native ./build/pktest --backend hw
	if [ -f tests/vm/run-in-vm.sh ]; then
		suite vm bash tests/vm/run-in-vm.sh -t 1200 -f build/pktest \
			-f build/libpkeys_preload.so -- \
			sh -c 'PKTEST_ENV=vm pktest --backend hw; PKTEST_ENV=vm pktest --backend emu'
		grep -q '^hw/vm: [1-9][0-9]* passed, [0-9]* failed, 0 skipped' "$out/vm.log" ||
			failures+=("vm: the hardware backend did not run every test in the VM")
		# The hardware suite again on the oldest cloud kernel installed,
		# when it is an older series than the newest (deps.sh installs
		# 6.1 and 6.12): signal delivery with keys changed in 6.12.
		oldest=$(printf '%s\n' /boot/vmlinuz-*-cloud-amd64 | sort -V | head -n1)
		newest=$(printf '%s\n' /boot/vmlinuz-*-cloud-amd64 | sort -V | tail -n1)
		oldest=${oldest#/boot/vmlinuz-} newest=${newest#/boot/vmlinuz-}
		if [ "${oldest%.*-*}" != "${newest%.*-*}" ] && [ -e "/boot/vmlinuz-$oldest" ]; then
			series=${oldest%.*-*}
			suite vm-old bash tests/vm/run-in-vm.sh -t 1200 -k "${oldest%-cloud-amd64}" \
				-f build/pktest -f build/libpkeys_preload.so -- \
				sh -c "PKTEST_ENV=vm-$series pktest --backend hw"
			grep -q "^hw/vm-$series: [1-9][0-9]* passed, [0-9]* failed, 0 skipped" "$out/vm-old.log" ||
				failures+=("vm-old: the hardware backend did not run every test on $oldest")
		fi
	fi
	# A CPU with 5-level paging (-cpu max has LA57) under a kernel that
	# pages with 4 levels (no5lvl): user space ends at 2^47 whatever
	# CPUID says.  The tests that use the end of user space.
	if [ -f tests/vm/run-in-vm.sh ]; then
		t="range_bad_args compat_freebsd_errors compat_aix_errors"
		suite vm-4level bash tests/vm/run-in-vm.sh -A no5lvl -t 600 -f build/pktest -- \
			sh -c "PKTEST_ENV=vm-4level pktest --backend hw $t; PKTEST_ENV=vm-4level pktest --backend emu $t"
		grep -q '^hw/vm-4level: 3 passed, 0 failed, 0 skipped' "$out/vm-4level.log" ||
			failures+=("vm-4level: the end-of-user-space tests did not all pass under no5lvl")
	fi
	# A program built against glibc's pkey calls only, plainly and under
	# `pkeys run`, natively and in the VM (tests/compat/check.sh).
	if [ -f tests/compat/check.sh ]; then
		suite unmodified bash tests/compat/check.sh build
	fi
fi
# musl: the library and its suite built with Debian's musl-gcc, run on
# the emulation here and on hardware keys in the VM.  musl-gcc searches
# musl's headers alone: the kernel's (linux/, asm/) come in through a
# folder of links, as a musl distribution installs them.
if sh scripts/deps.sh musl; then
	kh=$PWD/build-musl-headers
	mkdir -p "$kh"
	for d in linux asm-generic; do ln -sfn "/usr/include/$d" "$kh/$d"; done
	ln -sfn "/usr/include/$(gcc -print-multiarch)/asm" "$kh/asm"
	if build build-musl -DCMAKE_C_COMPILER=musl-gcc "-DCMAKE_C_FLAGS=-isystem $kh" \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo; then
		suite musl env PKTEST_ENV=musl ./build-musl/pktest --backend emu
		suite musl-vm bash tests/vm/run-in-vm.sh -t 900 -f build-musl/pktest \
			-f build-musl/libpkeys_preload.so -- \
			sh -c 'PKTEST_ENV=vm-musl pktest --backend hw'
		grep -q '^hw/vm-musl: [1-9][0-9]* passed, [0-9]* failed' "$out/musl-vm.log" ||
			failures+=("musl-vm: the musl build's hardware suite did not run in the VM")
	fi
else
	failures+=("musl: could not install musl-tools")
fi
# POWER: the same tests, cross-built, in the POWER9 VM on both page sizes.
# A hardware suite that skips there fails the run, as on x86.
if sh scripts/deps.sh ppc; then
	if build build-ppc64le -DCMAKE_BUILD_TYPE=RelWithDebInfo \
		-DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-ppc64le.cmake; then
		for kv in 64k:6.1 4k:6.12; do
			env=ppc64-${kv%%:*}
			suite "$env" bash tests/vm/run-in-vm.sh -a ppc64le -k "${kv#*:}" -t 1500 \
				-f build-ppc64le/pktest -f build-ppc64le/libpkeys_preload.so -- \
				sh -c "PKTEST_ENV=$env pktest --backend hw; PKTEST_ENV=$env pktest --backend emu"
			grep -q "^hw/$env: [1-9][0-9]* passed, [0-9]* failed, 0 skipped" "$out/$env.log" ||
				failures+=("$env: the hardware backend did not run every test in the POWER9 VM")
		done
		# The unmodified glibc program and the CLI there too.
		b=build-ppc64le
		suite unmodified-ppc64 bash tests/vm/run-in-vm.sh -a ppc64le -k 6.1 -t 600 \
			-f $b/pkeys -f $b/libpkeys_preload.so -f $b/libpkeys_report.so \
			-f $b/glibc_pkey_program -f $b/pkey_numbers -f $b/pkey_threads -f $b/pkey_insn -f $b/pkey_raw \
			-f $b/glibc_pkey_ported -f tests/compat/unmodified.sh -- \
			sh /bin/unmodified.sh /bin ppc64
		grep -q '^unmodified/ppc64: [1-9][0-9]* passed' "$out/unmodified-ppc64.log" ||
			failures+=("unmodified-ppc64: the checks did not run in the POWER9 VM")
	fi
else
	failures+=("deps: could not install what the POWER tests need")
fi
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DPKEYS_SANITIZE=address,undefined; then
	PKTEST_ENV=asan suite emu-asan ./build-asan/pktest --backend emu
fi
if build build-tsan -DCMAKE_BUILD_TYPE=Debug -DPKEYS_SANITIZE=thread; then
	PKTEST_ENV=tsan suite emu-tsan ./build-tsan/pktest --backend emu
fi

# Many threads making mixed calls at once (tests/stress/pkstress.c),
# briefly: natively, under both sanitizers, and on hardware keys in the
# VM.  `make stress` runs the long form.
stress() { # stress NAME COMMAND...
	echo "== stress-$1"
	shift
	"$@" || failures+=("stress: $* failed")
}
[ -x build/pkstress ] && stress native ./build/pkstress 8 20000
[ -x build-asan/pkstress ] && stress asan ./build-asan/pkstress 8 3000
[ -x build-tsan/pkstress ] && stress tsan ./build-tsan/pkstress 8 3000
if [ -x build/pkstress ] && [ -f tests/vm/run-in-vm.sh ]; then
	stress vm bash tests/vm/run-in-vm.sh -t 600 -f build/pkstress -- \
		sh -c 'PKEYS_BACKEND=hw pkstress 8 2000 && PKEYS_BACKEND=emu pkstress 8 2000'
fi

# A ThreadSanitizer-built program under `pkeys run` (tests/compat/
# tsan_race.c): TSan's report unmaps memory while a pthread_create waits
# for TSan; the library's lock must not join the two into a deadlock.
# Five runs, each killed after 60 s (the lock blocks SIGTERM).
if [ -x build/pkeys ]; then
	echo "== preload-tsan"
	if gcc -g -D_GNU_SOURCE -fsanitize=thread tests/compat/tsan_race.c \
		-o "$out/tsan_race" 2>"$out/tsan_race.log"; then
		for i in 1 2 3 4 5; do
			timeout -s KILL 60 ./build/pkeys run -- "$out/tsan_race" \
				>"$out/tsan_race.$i.log" 2>&1
			rc=$?
			if [ $rc != 66 ] || ! grep -q '^done$' "$out/tsan_race.$i.log"; then
				failures+=("preload-tsan: run $i ended with $rc (log: $out/tsan_race.$i.log)")
				break
			fi
		done
		echo "preload-tsan: $i runs"
	else
		failures+=("preload-tsan: tests/compat/tsan_race.c did not build")
	fi
fi

# The model-based fuzzer (tests/fuzz/pkfuzz.c), briefly, with fixed
# seeds: natively, under both sanitizers, on hardware keys and the
# emulation in the x86 and POWER VMs, and its libFuzzer entry (clang,
# coverage of the library too) for a fixed number of inputs.  `make
# fuzz` runs it for as long as asked.
fuzz() { # fuzz NAME COMMAND...
	local name=fuzz-$1 start=$SECONDS
	echo "== $name"
	shift
	"$@" || failures+=("fuzz: $* diverged from the model or failed")
	timings+=("$name $((SECONDS - start))")
}
[ -x build/pkfuzz ] && fuzz native env PKEYS_BACKEND=emu ./build/pkfuzz -s 1 -n 200000
[ -x build-asan/pkfuzz ] && fuzz asan env PKEYS_BACKEND=emu ./build-asan/pkfuzz -s 1 -n 30000
[ -x build-tsan/pkfuzz ] && fuzz tsan env PKEYS_BACKEND=emu ./build-tsan/pkfuzz -s 1 -n 20000
if [ -x build/pkfuzz ] && [ -f tests/vm/run-in-vm.sh ]; then
	fuzz vm bash tests/vm/run-in-vm.sh -t 600 -f build/pkfuzz -- \
		sh -c 'PKEYS_BACKEND=hw pkfuzz -s 1 -n 30000 && PKEYS_BACKEND=emu pkfuzz -s 1 -n 30000'
fi
if [ -x build-ppc64le/pkfuzz ]; then
	fuzz ppc64 bash tests/vm/run-in-vm.sh -a ppc64le -k 6.1 -t 900 -f build-ppc64le/pkfuzz -- \
		sh -c 'PKEYS_BACKEND=hw pkfuzz -s 1 -n 10000 && PKEYS_BACKEND=emu pkfuzz -s 1 -n 10000'
fi
if sh scripts/deps.sh fuzz &&
	cmake -S . -B build-fuzz -DBUILD_TESTING=ON -DPKEYS_WERROR=ON -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=Debug -DPKEYS_SANITIZE=address,undefined \
		-DPKEYS_LIBFUZZER=ON >"$out/cmake-build-fuzz.log" 2>&1 &&
	cmake --build build-fuzz -j2 --target pkfuzz_libfuzzer >>"$out/cmake-build-fuzz.log" 2>&1; then
	fuzz libfuzzer bash -c "PKEYS_BACKEND=emu ./build-fuzz/pkfuzz_libfuzzer \
		-runs=20000 -seed=1 -print_final_stats=1 2>$out/libfuzzer.log; rc=\$?;
		grep -E '^(stat::|Done|==[0-9]+==ERROR)' $out/libfuzzer.log; exit \$rc"
else
	failures+=("build build-fuzz failed (log: $out/cmake-build-fuzz.log)")
fi

echo
echo "== seconds per suite (the builds between them not counted), longest first"
printf '%s\n' "${timings[@]}" | sort -k2,2nr | awk '{ printf "%-16s %5d\n", $1, $2 }'
echo "total $SECONDS s"
echo
echo "== summary (per backend/environment)"
passed=0 failed=0
while read -r label p f s rest; do
	echo "$label $p passed, $f failed, $s skipped${rest:+ $rest}"
	passed=$((passed + p))
	failed=$((failed + f))
done < <(cat "$out"/*.log | sed -n -E 's/^([a-z]+\/[a-z0-9.-]+:) ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped(.*)$/\1 \2 \3 \4 \5/p')
for f in "${failures[@]}"; do
	echo "FAIL $f"
	failed=$((failed + 1))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
