# Front door: the targets README.md names.  The build itself is CMake.
BUILD ?= build
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all demo check bench bench-vm bench-vm-ppc stress install clean deps

all: deps
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j2

deps:
	@sh scripts/deps.sh build

demo: all
	./$(BUILD)/demo

check:
	@bash scripts/check.sh

bench: all
	@sh scripts/deps.sh bench
	cmake -S . -B $(BUILD) -DBUILD_TESTING=ON >/dev/null && cmake --build $(BUILD) -j2 >/dev/null
	./$(BUILD)/bench_switch
	./$(BUILD)/bench_ranges
	./$(BUILD)/bench_threads
	./$(BUILD)/bench_heap

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

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-check build-ppc64le
