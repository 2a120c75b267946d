#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/hook-rounds inside a qemu VM (TCG, 2 vCPUs) booted on the patched
# kernel of kernel-patches/ (its pidfd KSM ioctls: pagemeldd enables merging
# without ptrace). The guest is an initramfs: busybox, dbus-daemon,
# pagemeldd, pagemeld-oci-hook, /bin/true and hook-rounds with their
# libraries, pure cgroup v2. No runtime runs there: what is measured is the
# hook spawned with an OCI state on stdin and its registration round trip
# to pagemeldd through the hook socket (see bench/hook-rounds.c for the
# cases). Under TCG the absolute figures are not comparable with the host:
# read the ratios.
#
#   bench/hook-vm.sh [BUILD_DIR] [ROUNDS] [BATCH]   (default build, 60, 10)
# The guest kernel's only clocksource is jiffies (4 ms steps): each sample
# is the mean of BATCH runs back to back (bench/hook-rounds.c).
# The kernel comes from the cache kernel-patches/check fills
# (PAGEMELD_KERNEL_CACHE, default /var/cache/pagemeld-kernel): run
# `kernel-patches/check --build-only` first when it is cold.
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
rounds=${2:-60}
batch=${3:-10}
cache=${PAGEMELD_KERNEL_CACHE:-/var/cache/pagemeld-kernel}
key=$(bash kernel-patches/check --cache-key)
kernel=$cache/build/$key/bzImage
[ -f "$kernel" ] || { echo "no patched kernel in $kernel: run kernel-patches/check --build-only" >&2; exit 1; }
bins=("$build/daemon/pagemeldd" "$build/runtime-hook/pagemeld-oci-hook" "$build/bench/hook-rounds"
	/usr/bin/dbus-daemon /bin/true)
for b in "${bins[@]}"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done
busybox=$(command -v busybox)
file -L "$busybox" | grep -q 'statically linked' || { echo "$busybox is not static (busybox-static)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,pm,etc,proc,sys,dev,run,tmp}
cp "$busybox" "$root/bin/busybox"
for b in "${bins[@]}"; do
	cp "$b" "$root/pm/"
	ldd "$b" | grep -o '/[^ ]* (0x' | sed 's/ (0x$//' | while read -r lib; do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
done
printf 'root:x:0:0:root:/:/bin/sh\nmessagebus:x:100:101::/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nmessagebus:x:101:\n' >"$root/etc/group"
echo b08dfa6083e7567a1921a715000001fb >"$root/etc/machine-id"
# the vm tier's permissive guest bus (tests/vm/vmlib.py)
/usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import vmlib; print(vmlib.DBUS_CONF, end="")' \
	tests/vm >"$root/etc/dbus.conf"
printf '[Daemon]\nSweepIntervalSec=3600\nLogLevel=info\nStartKsm=no\n' >"$root/etc/pagemeld.conf"
cat >"$root/init" <<EOF_INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/pm
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
cp /pm/true /bin/true.real && rm /bin/true && mv /bin/true.real /bin/true
echo "HOOKVM kernel \$(uname -r), \$(nproc) CPUs, clocksource \$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource) of \$(cat /sys/devices/system/clocksource/clocksource0/available_clocksource)"
mkdir -p /run/dbus /run/pagemeld /sys/fs/cgroup/probe
dbus-daemon --config-file=/etc/dbus.conf --fork
pagemeldd --config /etc/pagemeld.conf --state-dir /run/pagemeld >/tmp/pagemeldd.log 2>&1 &
i=0; while [ ! -S /run/pagemeld/hook.sock ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
PAGEMELD_STATE_DIR=/run/pagemeld hook-rounds /pm/pagemeld-oci-hook /sys/fs/cgroup/probe $rounds $batch 2>&1 | sed 's/^/HOOKVM /'
echo "HOOKVM backend: \$(grep -o 'remote backend [a-z-]*' /tmp/pagemeldd.log | tail -1)"
echo "HOOKVM registered: \$(grep -c 'Registered container' /tmp/pagemeldd.log)"
echo "HOOKVM end"
reboot -f
EOF_INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd.gz"
echo "kernel $kernel; $rounds rounds of $batch; host load average $(cut -d' ' -f1-3 /proc/loadavg)"
timeout 1800 qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot -nic none \
	-kernel "$kernel" -initrd "$tmp/initrd.gz" -append 'console=ttyS0 quiet loglevel=1 panic=-1' \
	</dev/null >"$tmp/console.log" 2>&1 || true
grep -a 'HOOKVM' "$tmp/console.log" | tr -d '\r' | sed 's/^.*HOOKVM //'
grep -aq '^HOOKVM end' "$tmp/console.log" || { tail -40 "$tmp/console.log" >&2; exit 1; }
echo "host load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
