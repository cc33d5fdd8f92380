#!/bin/sh
# SPDX-License-Identifier: MIT
# The unmodified-program check, in the environment it runs in (this
# machine, or the VM of tests/vm/run-in-vm.sh, whose sh is busybox).
#
#   unmodified.sh DIR [ENV]
#
# DIR holds pkeys, libpkeys_preload.so, glibc_pkey_program and
# glibc_pkey_ported (the build tree, or /bin in the VM); ENV names the
# environment in the summary line (default native).  glibc_pkey_program
# uses glibc's pkey calls only:
#   - run plainly it passes where the kernel gives keys (PKU), and fails
#     with its pkey_alloc error elsewhere;
#   - under `pkeys run` it passes everywhere, and so it does under
#     `PKEYS_BACKEND=emu pkeys run`, which preloads the emulation even
#     where the hardware has keys;
#   - a stray write kills it with SIGSEGV under `pkeys run`;
#   - rebuilt with <pkeys/glibc.h> (glibc_pkey_ported) it passes plainly.
# `pkeys run` itself: only the fault report (libpkeys_report.so) in
# LD_PRELOAD on hardware keys, the preload library appended to it on the
# emulation, exit 127 for a missing command and 125 when no backend works.
# tests/compat/pkey_numbers.c: key numbers, rights and a handler's view
# of a key fault, plainly on hardware keys and under pkeys run;
# tests/compat/pkey_threads.c: threads that disagree about a key and
# handlers' rights, plainly there and under pkeys run --exact;
# tests/compat/pkey_insn.c: the register's instructions in the program;
# tests/compat/pkey_raw.c: direct pkey system calls.
# It warns about static programs, which LD_PRELOAD cannot reach.
# Prints PASS/FAIL per check and "unmodified/ENV: N passed, N failed,
# N skipped"; exits 1 when a check failed.
set -u
dir=${1:?usage: unmodified.sh DIR [ENV]}
env=${2:-native}
pkeys=$dir/pkeys
prog=$dir/glibc_pkey_program
passed=0 failed=0 skipped=0

unset PKEYS_BACKEND LD_PRELOAD
ulimit -c 0 2>/dev/null

pass() {
	passed=$((passed + 1))
	echo "PASS $1"
}

fail() { # fail NAME OUTPUT
	failed=$((failed + 1))
	echo "FAIL $1"
	printf '%s\n' "$2" | sed 's/^/     | /'
}

# expect NAME STATUS PATTERN COMMAND...: the command exits with STATUS
# and its output has a line matching PATTERN.
expect() {
	name=$1 want=$2 pattern=$3
	shift 3
	# The status comes last, so that the subshell waits for the command
	# itself and its "Segmentation fault" note lands in out, not on the
	# terminal.
	out=$(exec 2>&1; "$@"; echo "@status=$?")
	rc=${out##*@status=}
	out=${out%@status=*}
	if [ "$rc" -eq "$want" ] && printf '%s\n' "$out" | grep -q -- "$pattern"; then
		pass "$name"
	else
		fail "$name (exit $rc, wanted $want and /$pattern/)" "$out"
	fi
}

backend=$("$pkeys" info | sed -n 's/^backend: *//p')
echo "pkeys info: backend $backend"
# Any backend but the emulation is hardware keys.
hw=0
case $backend in emu | none | '') ;; *) hw=1 ;; esac
# glibc's own pkey_get/pkey_set read the AMR back, which QEMU's POWER
# machine returns as 0 in user mode: there they cannot work (the library
# keeps its own copy).  Real POWER has no such limit.
glibc_rights=1
if [ "$backend" = power_amr ] && [ "$env" != native ]; then
	glibc_rights=0
fi

if [ "$hw" = 1 ] && [ "$glibc_rights" = 0 ]; then
	skipped=$((skipped + 2))
	echo "SKIP plain run (QEMU's POWER machine reads the AMR as 0 in user mode: glibc's pkey_get cannot work)"
elif [ "$hw" = 1 ]; then
	expect "plain run passes (hardware keys)" 0 '^PASS' "$prog"
	expect "plain run, stray write stopped" 139 'key is closed' "$prog" violate
else
	expect "plain run fails with pkey_alloc's error" 2 '^pkey_alloc: ' "$prog"
fi
if [ -f "$dir/glibc_pkey_ported" ]; then
	expect "the program ported with <pkeys/glibc.h> passes plainly" 0 '^PASS' \
		"$dir/glibc_pkey_ported"
else
	skipped=$((skipped + 1))
	echo "SKIP the ported program ($dir/glibc_pkey_ported is missing)"
fi
if [ "$glibc_rights" = 1 ]; then
	expect "pkeys run passes" 0 '^PASS' "$pkeys" run -- "$prog"
else
	skipped=$((skipped + 1))
	echo "SKIP pkeys run on hardware keys runs glibc's pkey_get (see above)"
fi
expect "pkeys run, stray write stopped by SIGSEGV" 139 'key is closed' \
	"$pkeys" run -- "$prog" violate
expect "pkeys run, the library's fault report first" 139 \
	'^pkeys: write to 0x[0-9a-f]* stopped by key [0-9]' \
	"$pkeys" run -- "$prog" violate
expect "PKEYS_BACKEND=emu pkeys run passes" 0 '^PASS' \
	env PKEYS_BACKEND=emu "$pkeys" run -- "$prog"
expect "PKEYS_BACKEND=emu pkeys run, stray write stopped" 139 'key is closed' \
	env PKEYS_BACKEND=emu "$pkeys" run -- "$prog" violate
expect "PKEYS_BACKEND=emu pkeys run, the library's fault report first" 139 \
	'^pkeys: write to 0x[0-9a-f]* stopped by key [0-9]' \
	env PKEYS_BACKEND=emu "$pkeys" run -- "$prog" violate

# The report's backtrace, through the unwinder loaded with the first key.
expect "pkeys run, the report's backtrace" 139 \
	'^  #0 0x[0-9a-f]* \(violate\|main\)+0x' "$pkeys" run -- "$prog" violate
expect "pkeys run, the report's backtrace, key from syscall(2)" 139 \
	'^  #0 0x[0-9a-f]* \(violate\|main\)+0x' "$pkeys" run -- "$prog" violate-syscall
expect "PKEYS_BACKEND=emu pkeys run, the report's backtrace" 139 \
	'^  #0 0x[0-9a-f]* \(violate\|main\)+0x' \
	env PKEYS_BACKEND=emu "$pkeys" run -- "$prog" violate
# The emulation takes direct key system calls on x86-64 only (below).
if [ "$(uname -m)" = x86_64 ]; then
	expect "PKEYS_BACKEND=emu pkeys run, the report's backtrace, key from syscall(2)" 139 \
		'^  #0 0x[0-9a-f]* \(violate\|main\)+0x' \
		env PKEYS_BACKEND=emu "$pkeys" run -- "$prog" violate-syscall
else
	skipped=$((skipped + 1))
	echo "SKIP PKEYS_BACKEND=emu pkeys run, key from syscall(2) (x86-64 only)"
fi

# A process under pkeys run that makes no key call has the preloaded
# library (the emulation's, or on hardware keys the fault report's) and
# nothing it would load only for a fault report (libgcc_s's unwinder,
# libdw): those load with the first key (src/os/report_libs.h).
no_report_libs() {
	name=$1
	shift
	out=$("$@" 2>&1)
	if printf '%s\n' "$out" | grep -q 'libpkeys_preload\|libpkeys_report' &&
		! printf '%s\n' "$out" | grep -q 'libgcc_s\|libdw'; then
		pass "$name"
	else
		fail "$name" "$out"
	fi
}
no_report_libs "pkeys run, no key: no unwinder or libdw loaded" \
	"$pkeys" run -- "$prog" maps
no_report_libs "PKEYS_BACKEND=emu pkeys run, no key: no unwinder or libdw loaded" \
	env PKEYS_BACKEND=emu "$pkeys" run -- "$prog" maps

# The seccomp filters a process under pkeys run carries (x86-64, where
# direct key calls are trapped): the one the first preloaded process
# installs for the key calls, inherited (env, when dynamic, execs the
# program in the same process); the program itself, using no key, adds
# none (the mapping calls' filter comes with a first key).
if [ "$(uname -m)" != x86_64 ]; then
	skipped=$((skipped + 1))
	echo "SKIP pkeys run, no key: one seccomp filter (x86-64 only)"
else
	expect "pkeys run, no key: one seccomp filter, inherited" 0 \
		'^Seccomp_filters:[[:space:]]*1$' \
		env PKEYS_BACKEND=emu "$pkeys" run -- env "$prog" filters
fi

# Key numbers and rights as Linux gives them (tests/compat/pkey_numbers.c):
# the reference is the program run plainly on hardware keys; the
# emulation under pkeys run must give the same answers.
numbers=$dir/pkey_numbers
if [ ! -f "$numbers" ]; then
	skipped=$((skipped + 2))
	echo "SKIP key numbers ($numbers is missing)"
else
	if [ "$hw" = 1 ] && [ "$glibc_rights" = 1 ]; then
		expect "key numbers and rights, plainly on hardware keys (the reference)" 0 \
			'^PASS after execve' "$numbers"
	else
		skipped=$((skipped + 1))
		echo "SKIP key numbers plainly (no hardware keys glibc can use here)"
	fi
	expect "key numbers and rights, PKEYS_BACKEND=emu pkeys run, as on hardware" 0 \
		'^PASS after execve' env PKEYS_BACKEND=emu "$pkeys" run -- "$numbers"
fi

# Threads that disagree about a key, and signal handlers' rights
# (tests/compat/pkey_threads.c): the reference on hardware keys, and the
# emulation's exact mode (pkeys run --exact) must give the same answers.
threads=$dir/pkey_threads
if [ ! -f "$threads" ]; then
	skipped=$((skipped + 2))
	echo "SKIP threads ($threads is missing)"
else
	if [ "$hw" = 1 ] && [ "$glibc_rights" = 1 ]; then
		expect "threads and handlers, plainly on hardware keys (the reference)" 0 \
			'^PASS$' "$threads"
	else
		skipped=$((skipped + 1))
		echo "SKIP threads plainly (no hardware keys glibc can use here)"
	fi
	if [ "$(uname -m)" = x86_64 ]; then
		expect "threads and handlers, PKEYS_BACKEND=emu pkeys run --exact, as on hardware" 0 \
			'^PASS$' env PKEYS_BACKEND=emu "$pkeys" run --exact -- "$threads"
	else
		# No single-stepping from a signal handler here: refused, with
		# the reason.
		expect "pkeys run --exact refuses where it cannot single-step" 125 \
			'single-stepping' env PKEYS_BACKEND=emu "$pkeys" run --exact -- "$threads"
	fi
fi

# The rights register's instructions, executed by the program itself
# (tests/compat/pkey_insn.c, x86-64): the reference on hardware keys,
# and the emulation carries them out from SIGILL under pkeys run.
insn=$dir/pkey_insn
if [ ! -f "$insn" ] || [ "$(uname -m)" != x86_64 ]; then
	skipped=$((skipped + 2))
	echo "SKIP the register's instructions (x86-64 only)"
else
	if [ "$hw" = 1 ] && [ "$glibc_rights" = 1 ]; then
		expect "the register's instructions, plainly on hardware keys (the reference)" 0 \
			'^PASS$' "$insn"
	else
		skipped=$((skipped + 1))
		echo "SKIP the register's instructions plainly (no hardware keys glibc can use here)"
	fi
	# Where the CPU has keys the instructions work and cannot be
	# trapped: the emulation forced there does not see them.
	if [ "$hw" = 1 ]; then
		skipped=$((skipped + 1))
		echo "SKIP the register's instructions under the emulation (this CPU executes them)"
	else
		expect "the register's instructions, pkeys run, as on hardware" 0 \
			'^PASS$' "$pkeys" run -- "$insn"
	fi
fi

# Protection key system calls made directly (tests/compat/pkey_raw.c):
# the reference on hardware keys; pkeys run traps them with seccomp on
# the emulation (x86-64).
raw=$dir/pkey_raw
if [ ! -f "$raw" ] || [ "$(uname -m)" != x86_64 ]; then
	skipped=$((skipped + 2))
	echo "SKIP direct system calls (x86-64 only)"
else
	if [ "$hw" = 1 ]; then
		expect "direct system calls, plainly on hardware keys (the reference)" 0 \
			'^PASS$' "$raw"
		skipped=$((skipped + 1))
		echo "SKIP direct system calls under the emulation (the kernel here has keys)"
	else
		skipped=$((skipped + 1))
		echo "SKIP direct system calls plainly (no hardware keys here)"
		expect "direct system calls, pkeys run, as on hardware" 0 \
			'^PASS$' "$pkeys" run -- "$raw"
	fi
fi

# What `pkeys run` does to the environment.
show='echo "LD_PRELOAD=[$LD_PRELOAD]"'
if [ "$hw" = 1 ]; then
	expect "pkeys run preloads only the fault report on hardware" 0 \
		'^LD_PRELOAD=\[/.*/libpkeys_report\.so\]$' \
		"$pkeys" run -- sh -c "$show"
else
	expect "pkeys run preloads the emulation" 0 \
		'^LD_PRELOAD=\[/.*/libpkeys_preload\.so\]$' \
		"$pkeys" run -- sh -c "$show"
fi
lib=$(PKEYS_BACKEND=emu "$pkeys" run -- sh -c 'echo "$LD_PRELOAD"' 2>/dev/null)
# Another library first (one that does not exist: the loader says so
# and goes on).
expect "pkeys run appends to LD_PRELOAD" 0 \
	"^LD_PRELOAD=\[/nonexistent/libother.so:$lib\]\$" \
	env PKEYS_BACKEND=emu LD_PRELOAD=/nonexistent/libother.so "$pkeys" run -- sh -c "$show"
# LD_PRELOAD cannot reach a static program: pkeys run says so.
out=$(PKEYS_BACKEND=emu "$pkeys" run -- "$prog" 2>&1)
case $out in
*statically*) fail "no warning for a dynamic program" "$out" ;;
*) pass "no warning for a dynamic program" ;;
esac
if busybox=$(command -v busybox) && [ -n "$busybox" ]; then
	expect "pkeys run warns about a static program" 0 'statically linked' \
		env PKEYS_BACKEND=emu "$pkeys" run -- "$busybox" true
else
	skipped=$((skipped + 1))
	echo "SKIP pkeys run warns about a static program (no busybox here)"
fi
# Nested, pkeys run preloads the emulation once.
expect "nested pkeys run preloads once" 0 \
	'^LD_PRELOAD=\[/[^:]*/libpkeys_preload\.so\]$' \
	env PKEYS_BACKEND=emu "$pkeys" run -- "$pkeys" run -- sh -c "$show"
# The dynamic linker ignores LD_PRELOAD for set-user-ID programs.
suid="${TMPDIR:-/tmp}/pkeys-suid-true.$$"
if [ -x /bin/true ] && cp /bin/true "$suid" 2>/dev/null && chmod u+s "$suid"; then
	# (busybox's true runs as an unknown applet under another name: only
	# the warning counts)
	expect "pkeys run warns about a set-user-ID program" 0 'set-user-ID' \
		sh -c 'PKEYS_BACKEND=emu "$1" run -- "$2"; exit 0' sh "$pkeys" "$suid"
else
	skipped=$((skipped + 1))
	echo "SKIP pkeys run warns about a set-user-ID program (cannot make one)"
fi
rm -f "$suid"
# Command-line conventions: --help on every command, unknown commands
# and options are usage errors.
expect "pkeys --help" 0 '^usage: pkeys' "$pkeys" --help
expect "pkeys run --help" 0 '^usage: pkeys run' "$pkeys" run --help
expect "pkeys info --help" 0 '^usage: pkeys info' "$pkeys" info --help
expect "pkeys scan --help" 0 'pkeys scan' "$pkeys" scan --help
expect "pkeys run: unknown option" 2 'unknown option' "$pkeys" run -x true
expect "pkeys: unknown command" 2 'unknown command' "$pkeys" frobnicate
expect "pkeys run: missing command" 127 'no-such-command' \
	"$pkeys" run -- "$dir/no-such-command"
expect "pkeys run: no backend" 125 'PKEYS_BACKEND' \
	env PKEYS_BACKEND=bogus "$pkeys" run -- true

# The CLI's own output: JSON stays UTF-8 when a reason quotes bytes that
# are not (an environment value cut inside a character), and output that
# cannot be written is an error.
bad=$(printf 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\303\251')
expect "pkeys info --json replaces bytes that are not UTF-8" 1 \
	'"reason": "PKEYS_BACKEND=x*\\ufffd is not' \
	env PKEYS_BACKEND="$bad" "$pkeys" info --json
if [ -w /dev/full ]; then
	expect "pkeys --version to a full device fails" 1 'cannot write' \
		sh -c "exec \"$pkeys\" --version >/dev/full"
	expect "pkeys info --json to a full device fails" 1 'cannot write' \
		sh -c "exec \"$pkeys\" info --json >/dev/full"
else
	skipped=$((skipped + 2))
	echo "SKIP output errors (no /dev/full)"
fi

echo "unmodified/$env: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
