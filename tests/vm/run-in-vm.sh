#!/bin/bash
# Run a command inside a throw-away QEMU VM whose CPU has PKU, so the
# hardware-backend tests run on hosts without PKU. QEMU's TCG emulates PKU
# with -cpu max; the Debian cloud kernel has protection keys enabled.
#
# Usage: run-in-vm.sh [-v] [-t SECONDS] [-k VERSION] [-f FILE]... -- COMMAND [ARGS...]
#   -f FILE  copy FILE to /bin/<basename> in the VM, plus the shared
#            libraries and loader it needs at their host paths
#   -k VER   boot /boot/vmlinuz-VER*-cloud-amd64 (newest match), e.g. 6.1.
#            or 6.12; default: the newest cloud kernel installed
#   -t SECS  give up after SECS seconds (default 900)
#   -v       copy the raw serial console to stderr (to debug boot failures)
# Prints the command's output and exits with its status; 125 on VM trouble.
set -u -o pipefail

die() { echo "run-in-vm: $*" >&2; exit 125; }
usage() { die "usage: $0 [-v] [-t SECONDS] [-k VERSION] [-f FILE]... -- COMMAND [ARGS...]"; }

timeout_s=900 verbose=0 files=() want=
while getopts "t:f:k:v" opt; do
    case $opt in
        t) timeout_s=$OPTARG ;;
        k) want=$OPTARG ;;
        f) [[ -f $OPTARG ]] || die "no such file: $OPTARG"; files+=("$OPTARG") ;;
        v) verbose=1 ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
(($#)) || usage

kernel=$(printf '%s\n' /boot/vmlinuz-"$want"*-cloud-amd64 | sort -V | tail -n1)
[[ -e $kernel ]] || die "missing cloud kernel${want:+ $want} (apt-get install linux-image-cloud-amd64)"
[[ -r $kernel ]] || die "cannot read $kernel (run as root or chmod a+r it)"
command -v qemu-system-x86_64 >/dev/null || die "missing qemu-system-x86_64 (apt-get install qemu-system-x86)"
busybox=$(command -v busybox) || die "missing busybox (apt-get install busybox-static)"
command -v cpio >/dev/null || die "missing cpio (apt-get install cpio)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/run-in-vm.XXXXXX") || die "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp}

# Copy FILE's shared libraries and loader to the same absolute paths, so the
# binary's PT_INTERP and its RUNPATH/default search find them unchanged.
copy_deps() {
    local lib
    for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
        [[ -e $root$lib ]] && continue
        mkdir -p "$root${lib%/*}" || die "cannot copy $lib"
        cp -L "$lib" "$root$lib" || die "cannot copy $lib"
    done
}

cp -L "$busybox" "$root/bin/busybox" && copy_deps "$busybox"  # tolerate a dynamic busybox
# glibc loads libgcc_s at run time (pthread_cancel, backtrace): no ldd
# line names it, so copy it to its host path when the host has it.
libgcc=$(ldconfig -p 2>/dev/null | sed -n 's/.*libgcc_s\.so\.1 (libc6,x86-64) => //p' | head -n1)
if [[ -n $libgcc && -e $libgcc ]]; then
    mkdir -p "$root${libgcc%/*}" && cp -L "$libgcc" "$root$libgcc" || die "cannot copy $libgcc"
fi
for f in "${files[@]}"; do
    cp -L "$f" "$root/bin/${f##*/}" || die "cannot copy $f"
    copy_deps "$f"
done
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

raw=/dev/null; ((verbose)) && raw=/dev/stderr
# --foreground keeps qemu in our process group, so Ctrl-C reaches it.
# The serial console turns \n into \r\n: drop one \r per line. Only text
# between the markers is the command's; the exit marker may follow output
# that lacks a final newline, so look for it anywhere in the line.
boot() {
    timeout --foreground "$timeout_s" qemu-system-x86_64 "${accel[@]}" -cpu max -smp 2 -m 512 \
        -nographic -nic none -no-reboot -kernel "$kernel" -initrd "$tmp/initrd" \
        -append "console=ttyS0 quiet panic=-1" </dev/null 2>"$tmp/qemu.err" |
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
