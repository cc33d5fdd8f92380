# Front door: the targets README.md names.  The build itself is CMake.
BUILD ?= build
PREFIX ?= /usr/local
CMAKE_FLAGS ?=

.PHONY: all demo check bench bench-vm install clean deps

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
		-f $(BUILD)/bench_threads -f $(BUILD)/bench_heap \
		-- sh -c '/bin/bench_switch && /bin/bench_ranges && /bin/bench_threads && /bin/bench_heap'

install: all
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan build-tsan build-check
