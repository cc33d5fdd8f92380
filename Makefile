# SPDX-License-Identifier: MIT
# Front door: the targets README.md names.  The build itself is CMake.
BUILD ?= build
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all demo check bench bench-vm bench-vm-ppc stress fuzz fuzz-vm fuzz-libfuzzer install uninstall clean deps

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j2

deps:
	@sh scripts/deps.sh build

# The demo's output only: the build log goes to $(BUILD)/build.log
# (shown when the build fails).
demo:
	@sh scripts/deps.sh build
	@cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null && \
		cmake --build $(BUILD) -j2 >$(BUILD)/build.log 2>&1 || \
		{ tail -40 $(BUILD)/build.log; echo "demo: the build failed (log: $(BUILD)/build.log)"; exit 1; }
	@./$(BUILD)/demo

check:
	@bash scripts/check.sh

bench: all
	@sh scripts/deps.sh bench
	cmake -S . -B $(BUILD) -DBUILD_TESTING=ON >/dev/null && cmake --build $(BUILD) -j2 >/dev/null
	./$(BUILD)/bench_switch
	./$(BUILD)/bench_ranges
	./$(BUILD)/bench_threads
	./$(BUILD)/bench_heap
	./$(BUILD)/bench_run

# The same benchmark on the hardware backend, in the QEMU VM (software CPU).
bench-vm: all
	@sh scripts/deps.sh vm
	cmake -S . -B $(BUILD) -DBUILD_TESTING=ON >/dev/null && cmake --build $(BUILD) -j2 >/dev/null
	bash tests/vm/run-in-vm.sh -f $(BUILD)/bench_switch -f $(BUILD)/bench_ranges \
		-f $(BUILD)/bench_threads -f $(BUILD)/bench_heap -f $(BUILD)/bench_insns \
		-- sh -c '/bin/bench_insns && /bin/bench_switch && /bin/bench_ranges && /bin/bench_threads && /bin/bench_heap'

# Instruction counts on POWER, cross-built, in the POWER9 VM.
bench-vm-ppc:
	@sh scripts/deps.sh ppc
	cmake -S . -B build-ppc64le -DBUILD_TESTING=ON \
		-DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-ppc64le.cmake >/dev/null
	cmake --build build-ppc64le -j2 >/dev/null
	bash tests/vm/run-in-vm.sh -a ppc64le -f build-ppc64le/bench_insns -- bench_insns

# 64 threads x 1,000,000 mixed calls (tests/stress/pkstress.c); under
# ThreadSanitizer with `make stress BUILD=build-tsan` after a make check.
STRESS ?= 64 1000000
stress: all
	cmake -S . -B $(BUILD) -DBUILD_TESTING=ON >/dev/null && cmake --build $(BUILD) -j2 >/dev/null
	./$(BUILD)/pkstress $(STRESS)

# The model-based fuzzer (tests/fuzz/): FUZZ_SECONDS of random calls
# checked against the model, on the emulation here (fuzz), on hardware
# keys and the emulation in the x86 VM (fuzz-vm), or driven by libFuzzer
# with coverage of the library (fuzz-libfuzzer, corpus in build-fuzz/).
# Each prints calls/s and the divergences, with how to reproduce them.
FUZZ_SECONDS ?= 60
FUZZ_SEED ?= 1
fuzz: all
	cmake -S . -B $(BUILD) -DBUILD_TESTING=ON >/dev/null && cmake --build $(BUILD) -j2 >/dev/null
	PKEYS_BACKEND=emu ./$(BUILD)/pkfuzz -s $(FUZZ_SEED) -t $(FUZZ_SECONDS)

fuzz-vm: all
	@sh scripts/deps.sh vm
	cmake -S . -B $(BUILD) -DBUILD_TESTING=ON >/dev/null && cmake --build $(BUILD) -j2 >/dev/null
	bash tests/vm/run-in-vm.sh -t $$(($(FUZZ_SECONDS) * 2 + 300)) -f $(BUILD)/pkfuzz -- \
		sh -c 'PKEYS_BACKEND=hw pkfuzz -s $(FUZZ_SEED) -t $(FUZZ_SECONDS); \
		       PKEYS_BACKEND=emu pkfuzz -s $(FUZZ_SEED) -t $(FUZZ_SECONDS)'

fuzz-libfuzzer: deps
	@sh scripts/deps.sh fuzz
	cmake -S . -B build-fuzz -DBUILD_TESTING=ON -DPKEYS_WERROR=OFF -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=Debug -DPKEYS_SANITIZE=address,undefined -DPKEYS_LIBFUZZER=ON >/dev/null
	cmake --build build-fuzz -j2 --target pkfuzz_libfuzzer >/dev/null
	mkdir -p build-fuzz/corpus
	PKEYS_BACKEND=emu ./build-fuzz/pkfuzz_libfuzzer -max_total_time=$(FUZZ_SECONDS) build-fuzz/corpus

# Installs into PREFIX (cmake --install), then runs ldconfig where the
# loader searches the library's folder; uninstall removes every file the
# last install from $(BUILD) wrote (its install_manifest.txt).
install: all
	cmake --install $(BUILD) --prefix $(PREFIX)
	@sh scripts/ldconfig.sh "$$(dirname "$$(grep -m1 '/libpkeys\.so$$' $(BUILD)/install_manifest.txt)")"

uninstall:
	@test -f $(BUILD)/install_manifest.txt || { echo "uninstall: nothing was installed from $(BUILD)" >&2; exit 1; }
	@libdir=$$(dirname "$$(grep -m1 '/libpkeys\.so$$' $(BUILD)/install_manifest.txt)"); \
	while read -r f || [ -n "$$f" ]; do rm -f "$$f" && echo "removed $$f"; done < $(BUILD)/install_manifest.txt; \
	for d in "$$libdir/pkeys" "$$libdir/cmake/pkeys" $$(sed -n 's|/pkeys/glibc\.h$$|/pkeys|p' $(BUILD)/install_manifest.txt); do \
		rmdir "$$d" 2>/dev/null || true; done; \
	rm -f $(BUILD)/install_manifest.txt; \
	sh scripts/ldconfig.sh "$$libdir"

clean:
	rm -rf $(BUILD) build-asan build-tsan build-check build-ppc64le build-fuzz
