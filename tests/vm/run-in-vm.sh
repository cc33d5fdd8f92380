#!/bin/bash
# SPDX-License-Identifier: MIT
# Run a command inside a throw-away QEMU VM whose CPU has PKU, so the
# hardware-backend tests run on hosts without PKU. QEMU's TCG emulates PKU
# with -cpu max; the Debian cloud kernel has protection keys enabled.
# With -a ppc64le the VM is QEMU's POWER9 machine (powernv9, hash MMU),
# whose keys live in the AMR; the kernels and busybox come from Debian's
# ppc64el archive (scripts/deps.sh ppc puts them in the cache below).
#
# Usage: run-in-vm.sh [-v] [-a ARCH] [-A ARGS] [-t SECONDS] [-k VERSION] [-f FILE]... -- COMMAND [ARGS...]
#   -a ARCH  x86_64 (default) or ppc64le
#   -A ARGS  more kernel command-line arguments (e.g. no5lvl)
#   -f FILE  copy FILE to /bin/<basename> in the VM, plus the shared
#            libraries and loader it needs at their host paths (ppc64le:
#            from /usr/powerpc64le-linux-gnu/lib, or FILE's RUNPATH)
#   -k VER   boot /boot/vmlinuz-VER*-cloud-amd64 (newest match), e.g. 6.1.
#            or 6.12; default: the newest cloud kernel installed.
#            ppc64le: $PKEYS_VM_CACHE/ppc64el/vmlinux-VER* (newest match;
#            6.1 does not match 6.12), cache default /var/cache/pkeys-vm;
#            default: the newest kernel with 64 KiB pages
#   -t SECS  give up after SECS seconds (default 900)
#   -v       copy the raw serial console to stderr (to debug boot failures)
# Prints the command's output and exits with its status; 125 on VM trouble.
set -u -o pipefail

die() { echo "run-in-vm: $*" >&2; exit 125; }
usage() { die "usage: $0 [-v] [-a ARCH] [-A ARGS] [-t SECONDS] [-k VERSION] [-f FILE]... -- COMMAND [ARGS...]"; }

timeout_s=900 verbose=0 files=() want= arch=x86_64 append=
while getopts "a:A:t:f:k:v" opt; do
    case $opt in
        a) arch=$OPTARG ;;
        A) append+=" $OPTARG" ;;
        t) timeout_s=$OPTARG ;;
        k) want=$OPTARG ;;
        f) [[ -f $OPTARG ]] || die "no such file: $OPTARG"; files+=("$OPTARG") ;;
        v) verbose=1 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
(($#)) || usage

case $arch in
x86_64)
kernel=$(printf '%s\n' /boot/vmlinuz-"$want"*-cloud-amd64 | sort -V | tail -n1)
[[ -e $kernel ]] || die "missing cloud kernel${want:+ $want} (apt-get install linux-image-cloud-amd64)"
[[ -r $kernel ]] || die "cannot read $kernel (run as root or chmod a+r it)"
command -v qemu-system-x86_64 >/dev/null || die "missing qemu-system-x86_64 (apt-get install qemu-system-x86)"
busybox=$(command -v busybox) || die "missing busybox (apt-get install busybox-static)"
;;
ppc64le)
cache=${PKEYS_VM_CACHE:-/var/cache/pkeys-vm}/ppc64el
cross=/usr/powerpc64le-linux-gnu/lib     # the ppc64le glibc and libgcc_s
multiarch=/lib/powerpc64le-linux-gnu     # where the VM's loader looks
need_deps="(run scripts/deps.sh ppc as root)"
kernel= pages64k=
for k in "$cache"/vmlinux-"$want"*; do
    [[ -e $k ]] || continue
    v=${k##*/vmlinux-}
    [[ $want == *[0-9] && ${v#"$want"} == [0-9]* ]] && continue  # 6.1 is not 6.12
    kernel+=$k$'\n'
    grep -qx CONFIG_PPC_64K_PAGES=y "$cache/config-$v" 2>/dev/null && pages64k+=$k$'\n'
done
[[ -z $want && -n $pages64k ]] && kernel=$pages64k
kernel=$(printf '%s' "$kernel" | sort -V | tail -n1)
[[ -n $kernel ]] || die "missing ppc64el kernel${want:+ $want} in $cache $need_deps"
[[ -r $kernel ]] || die "cannot read $kernel (run as root or chmod a+r it)"
command -v qemu-system-ppc64 >/dev/null || die "missing qemu-system-ppc64 $need_deps"
busybox=$cache/busybox
[[ -x $busybox ]] || die "missing ppc64el busybox in $cache $need_deps"
[[ -e $cross/ld64.so.2 ]] || die "missing $cross/ld64.so.2 $need_deps"
readelf=readelf
command -v powerpc64le-linux-gnu-readelf >/dev/null && readelf=powerpc64le-linux-gnu-readelf
command -v "$readelf" >/dev/null || die "missing readelf (apt-get install binutils)"
;;
*) die "unknown architecture: $arch (x86_64 or ppc64le)" ;;
esac
command -v cpio >/dev/null || die "missing cpio (apt-get install cpio)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-in-vm.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp}

# Copy FILE's shared libraries and loader to the same absolute paths, so the
# binary's PT_INTERP and its RUNPATH/default search find them unchanged.
# A musl program is listed by musl's loader (glibc's ldd cannot load it).
musl_loader=$(ls /lib/ld-musl-x86_64.so.1 2>/dev/null)
copy_deps() {
    local lib list
    if [[ -n $musl_loader ]] && grep -q ld-musl "$1" 2>/dev/null; then
        list=$("$musl_loader" --list "$1" 2>/dev/null)
    else
        list=$(ldd "$1" 2>/dev/null)
    fi
    for lib in $(printf '%s\n' "$list" | grep -o '/[^ ]*'); do
        [[ -f $lib ]] || continue
        [[ -e $root$lib ]] && continue
        mkdir -p "$root${lib%/*}" || die "cannot copy $lib"
        cp -L "$lib" "$root$lib" || die "cannot copy $lib"
    done
}

# ppc64le: ldd cannot run a foreign binary, so follow the ELF headers: the
# loader (PT_INTERP, /lib64/ld64.so.2) and each DT_NEEDED library, found
# among the -f files (in /bin, LD_LIBRARY_PATH), in FILE's RUNPATH/RPATH
# (copied to its host path, as ldd's answer is on x86), or in the cross
# glibc (copied to the VM's multiarch directory); then their own NEEDED.
loaders=
is_ppc64() { "$readelf" -h "$1" 2>/dev/null | grep -q 'Machine:.*PowerPC64'; }
copy_cross_deps() {
    local f=$1 interp need d dirs=() src dest
    interp=$("$readelf" -l "$f" 2>/dev/null | sed -n 's/.*program interpreter: \(.*\)]$/\1/p')
    if [[ -n $interp && ! -e $root$interp ]]; then
        mkdir -p "$root${interp%/*}" && cp -L "$cross/${interp##*/}" "$root$interp" ||
            die "cannot copy the loader $interp"
        loaders+=" ${interp##*/} "
    fi
    for d in $("$readelf" -d "$f" 2>/dev/null | sed -n 's/.*(R[UN]*PATH).*\[\(.*\)\]$/\1/p' | tr : ' '); do
        dirs+=("${d//\$ORIGIN/$(dirname "$(readlink -f "$f")")}")
    done
    for need in $("$readelf" -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
        [[ -e $root/bin/$need ]] && continue  # a -f file: copied, and followed on its own
        [[ $loaders == *" $need "* ]] && continue  # the loader is loaded already
        src= dest=
        for d in "${dirs[@]}"; do
            if [[ -e $d/$need ]] && is_ppc64 "$d/$need"; then src=$d/$need dest=$root$d/$need; break; fi
        done
        if [[ -z $src && -e $cross/$need ]]; then src=$cross/$need dest=$root$multiarch/$need; fi
        if [[ -z $src ]]; then echo "run-in-vm: $need (needed by ${f##*/}) not found" >&2; continue; fi
        [[ -e $dest ]] && continue
        mkdir -p "${dest%/*}" && cp -L "$src" "$dest" || die "cannot copy $src"
        copy_cross_deps "$src"
    done
}

if [[ $arch == ppc64le ]]; then
    cp -L "$busybox" "$root/bin/busybox" || die "cannot copy $busybox"
    # glibc loads libgcc_s at run time (pthread_cancel, backtrace), and
    # so does the library (a fault report's backtrace).
    mkdir -p "$root$multiarch" && cp -L "$cross/libgcc_s.so.1" "$root$multiarch/" ||
        die "cannot copy $cross/libgcc_s.so.1"
    for f in "${files[@]}"; do
        cp -L "$f" "$root/bin/${f##*/}" || die "cannot copy $f"
    done
    for f in "${files[@]}"; do copy_cross_deps "$f"; done
else
cp -L "$busybox" "$root/bin/busybox" && copy_deps "$busybox"  # tolerate a dynamic busybox
# glibc loads libgcc_s at run time (pthread_cancel, backtrace): no ldd
# line names it, so copy it to its host path when the host has it.
libgcc=$(ldconfig -p 2>/dev/null | sed -n 's/.*libgcc_s\.so\.1 (libc6,x86-64) => //p' | head -n1)
if [[ -n $libgcc && -e $libgcc ]]; then
    mkdir -p "$root${libgcc%/*}" && cp -L "$libgcc" "$root$libgcc" || die "cannot copy $libgcc"
fi
# The shared libraries load libgcc_s and libdw when a fault report is
# first readied (src/os/report_libs.h): libdw too, with what it needs.
libdw=$(ldconfig -p 2>/dev/null | sed -n 's/.*libdw\.so\.1 (libc6,x86-64) => //p' | head -n1)
if [[ -n $libdw && -e $libdw ]]; then
    mkdir -p "$root${libdw%/*}" && cp -L "$libdw" "$root$libdw" || die "cannot copy $libdw"
    copy_deps "$libdw"
fi
for f in "${files[@]}"; do
    cp -L "$f" "$root/bin/${f##*/}" || die "cannot copy $f"
    copy_deps "$f"
done
fi
echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
echo 'root:x:0:' >"$root/etc/group"

# This busybox sh runs its applet of the same name (stat, test, ...) ahead
# of PATH, so call a copied file by its full path.
for f in "${files[@]}"; do [[ $1 == "${f##*/}" ]] && set -- "/bin/$1" "${@:2}"; done

# Single-quote every word for the VM's sh, so spaces and quotes survive.
cmd=
for a in "$@"; do cmd+=" '${a//\'/\'\\\'\'}'"; done

# Reopen the console on devtmpfs, so init's stdio does not depend on a
# /dev/console node in the cpio (making one needs root). printk is turned
# down so that kernel messages cannot interleave with the command's output.
# LD_LIBRARY_PATH=/bin finds libraries passed with -f. /tmp gets no tmpfs:
# that would hide libraries copied from the host's /tmp (the rootfs is
# already a writable tmpfs).
cat >"$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin LD_LIBRARY_PATH=/bin HOME=/tmp
mount -t devtmpfs dev /dev
exec </dev/null >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
echo 1 >/proc/sys/kernel/printk
cd /tmp
echo @@PKVM-START@@
$cmd
echo "@@PKVM-EXIT \$?@@"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd" || die "cannot build initramfs"

# KVM's -cpu max only has PKU if the host does; otherwise TCG must emulate it.
accel=(-accel tcg)
if [[ -r /dev/kvm && -w /dev/kvm ]] && grep -qw pku /proc/cpuinfo; then
    accel=(-accel kvm -accel tcg)  # QEMU falls back to TCG if KVM fails
fi
# tsc=reliable: under TCG the TSC runs unevenly against the other clocks,
# and the kernel's clocksource watchdog then switches clocksource at run
# time; the code patching of that switch once ended a 6.12 guest in an
# int3 oops (sched_clock_cpu, "Fatal exception in interrupt") mid-suite.
vm=(qemu-system-x86_64 "${accel[@]}" -cpu max -smp 2 -m 512
    -nographic -nic none -no-reboot -kernel "$kernel" -initrd "$tmp/initrd"
    -append "console=ttyS0 quiet panic=-1 tsc=reliable$append")
# POWER9 bare metal (OPAL firmware, skiboot from qemu-system-data): the
# hash MMU (disable_radix) is the one with keys; -nodefaults skips the PCI
# link training (seconds); poweroff needs the BMC.
if [[ $arch == ppc64le ]]; then
    vm=(qemu-system-ppc64 -M powernv9 -cpu power9 -smp 2 -m 1G -nodefaults
        -nographic -chardev "stdio,id=con" -serial chardev:con
        -device "ipmi-bmc-sim,id=bmc0" -device "isa-ipmi-bt,bmc=bmc0,irq=10"
        -no-reboot -kernel "$kernel" -initrd "$tmp/initrd"
        -append "console=hvc0 disable_radix quiet panic=-1$append")
fi

raw=/dev/null; ((verbose)) && raw=/dev/stderr
# --foreground keeps qemu in our process group, so Ctrl-C reaches it.
# The serial console turns \n into \r\n: drop one \r per line. Only text
# between the markers is the command's; the exit marker may follow output
# that lacks a final newline, so look for it anywhere in the line.
boot() {
    timeout --foreground "$timeout_s" "${vm[@]}" </dev/null 2>"$tmp/qemu.err" |
        tee "$raw" | awk -v rcfile="$tmp/rc" -v startfile="$tmp/started" '
            { sub(/\r$/, "") }
            !on { on = index($0, "@@PKVM-START@@") > 0; if (on) print "" >startfile; next }
            (i = index($0, "@@PKVM-EXIT ")) {
                printf "%s", substr($0, 1, i - 1)
                rc = substr($0, i + 12); sub(/@@.*/, "", rc)
                print rc >rcfile
                on = 0; next  # drain the rest, so the VM powers off by itself
            }
            { print; fflush() }'
    status=("${PIPESTATUS[@]}")
}

# A VM that stops before the command started (a kernel message over the
# start marker, a guest that gave up under a heavily loaded host) is
# booted once more; one that stops after it is an error.
for attempt in 1 2; do
    rm -f "$tmp/rc" "$tmp/started"
    boot
    [[ -s $tmp/rc ]] && exit "$(cat "$tmp/rc")"
    ((status[0] == 124)) && die "timed out after ${timeout_s}s"
    [[ -e $tmp/started ]] && break
    ((attempt == 1)) && echo "run-in-vm: the VM stopped before the command started; booting again" >&2
done
err=$(head -n1 "$tmp/qemu.err")
die "VM ended without an exit status (qemu status ${status[0]}${err:+: $err})"
