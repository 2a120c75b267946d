#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The guest side of bench/hook-node-vm.py, run in the node VM by
# tests/node/guest/node-checks.sh (CHECKS=bench): pagemeld as the .deb
# installs it (pagemeld.socket, pagemeldd under its unit), and interleaved
# rounds (the order flips every round) of `runc run` of a busybox `true`:
#   plain      no hooks
#   truehook   one /bin/true createRuntime hook: the floor of any hook
#   hooked     pagemeld-oci-hook create, the deployed hook, against the
#              guest's pagemeldd through its hook socket
#   truetimed, hooktimed  /bin/true and the hook behind bench/hook-timer,
#              which logs each one's spawn to exit inside runc
# Each runc run is timed by hook-timer too (CLOCK_MONOTONIC, spawn to
# wait, no fork of date(1) in the span). The guest has no Python: the
# bundles come from the host ($dir/bundles), the figures are computed there
# from what this writes to $dir/out (read back with debugfs):
#   <variant>.runc   one "start end exit" line per runc run (warm-up first)
#   <variant>.hook   the same for the hook inside truetimed/hooktimed
#   facts            key value lines: kernel, clock, backend, registrations
set -euo pipefail
here=/var/lib/pagemeld-node
dir=$here/hookbench
out=$dir/out
# shellcheck disable=SC1091
. $here/env
rounds=${ROUNDS:?}
mkdir -p "$out"
facts=$out/facts
: >"$facts"
fact() { echo "$*" >>"$facts"; sync "$facts"; }
say() { echo "hook-node-vm: $*" >/dev/console; }

cs=/sys/devices/system/clocksource/clocksource0
fact kernel "$(uname -r)"
fact cpus "$(nproc)"
fact clocksource "$(cat $cs/current_clocksource) (available: $(cat $cs/available_clocksource))"
fact clock "$("$dir/hook-timer" --clock)"
fact features "$(pagemeldctl features 2>&1 | tr -s ' \n' ' ')"
fact cmdline "$(cat /proc/cmdline)"

# pagemeld.socket holds the hook socket from boot; the daemon is started
# before the rounds so no run pays for its activation.
systemctl start pagemeld
for _ in $(seq 600); do [ "$(systemctl is-active pagemeld)" = active ] && break; sleep 0.1; done
[ -S /run/pagemeld/hook.sock ] || { echo "no hook socket" >&2; exit 1; }
fact daemon "$(systemctl is-active pagemeld) pid $(systemctl show -p MainPID --value pagemeld)"

# The container's root: the guest's static busybox, read-only.
rootfs=$dir/rootfs
mkdir -p "$rootfs/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/sys"
cp /bin/busybox "$rootfs/bin/busybox"
ln -sf busybox "$rootfs/bin/true"

# Merging really enabled by the hook, and how: a sleeping process in a
# cgroup of its own registered the way a container init is.
sleep 600 &
sleeper=$!
mkdir -p /sys/fs/cgroup/pagemeld-hookbench-probe
echo $sleeper >/sys/fs/cgroup/pagemeld-hookbench-probe/cgroup.procs
probe=$(printf '{"ociVersion":"1.0.2","id":"bench-probe","pid":%d,"annotations":{"merge.pagemeld.io":"true"}}' $sleeper)
rc=0
/usr/libexec/oci/hooks.d/pagemeld-oci-hook --fail-mode closed create <<<"$probe" >"$out/probe.err" 2>&1 || rc=$?
# merge-any marks every VMA mergeable ("mg"); Debian's 6.12 has no
# ksm_merge_any line in ksm_stat
mergeable() { grep -c '^VmFlags:.* mg' /proc/$sleeper/smaps || true; }
for _ in $(seq 100); do [ "$(mergeable)" -gt 0 ] && break; sleep 0.1; done
fact probe "hook exit $rc, mergeable VMAs $(mergeable) of $(grep -c '^VmFlags:' /proc/$sleeper/smaps)," \
	"$(grep ksm_merge_any /proc/$sleeper/ksm_stat | tr -d ' ') $(tr '\n' ' ' <"$out/probe.err")"
/usr/libexec/oci/hooks.d/pagemeld-oci-hook stop <<<"$probe" >/dev/null 2>&1 || true
kill $sleeper
wait $sleeper 2>/dev/null || true
rmdir /sys/fs/cgroup/pagemeld-hookbench-probe 2>/dev/null || true

variants=(plain truehook hooked truetimed hooktimed)
reversed=(hooktimed truetimed hooked truehook plain)
for v in "${variants[@]}"; do : >"$out/$v.runc"; done
: >"$out/truetimed.hook"
: >"$out/hooktimed.hook"
one() { # variant id
	if ! "$dir/hook-timer" "$out/$1.runc" /usr/sbin/runc --root /run/hookbench-runc run \
		--bundle "$dir/bundles/$1" "$2" </dev/null >/dev/null 2>"$out/run.err"; then
		echo "runc run $1 ($2) failed: $(cat "$out/run.err")" >&2
		exit 1
	fi
}
t0=$(date +%s)
say "start: $rounds rounds; clocksource $(cat $cs/current_clocksource)"
for v in "${variants[@]}"; do one "$v" "warm-$v"; done
for i in $(seq "$rounds"); do
	if [ $((i % 2)) = 0 ]; then order=("${variants[@]}"); else order=("${reversed[@]}"); fi
	for v in "${order[@]}"; do one "$v" "$v-$i"; done
	[ $((i % 10)) != 0 ] || say "round $i of $rounds, $(($(date +%s) - t0)) s"
done
fact rounds_seconds "$(($(date +%s) - t0))"
fact loadavg "$(cat /proc/loadavg)"

# Which path pagemeldd took (pidfd ioctl or ptrace), and that every hooked
# run registered its container (runc ran them all to their end).
journalctl -u pagemeld -o short-monotonic --no-pager >"$out/pagemeld.journal" 2>&1 || true
backend=$(grep -o 'remote backend [a-z-]*' "$out/pagemeld.journal" | tail -1 || true)
fact backend "${backend#remote backend }"
for v in hooked hooktimed; do
	fact "registered_$v" "$(grep -cE "Registered container (warm-$v|$v-[0-9]+) " "$out/pagemeld.journal" || true)"
done
journalctl -t pagemeld-oci-hook -o short-monotonic --no-pager >"$out/hook.journal" 2>&1 || true
fact hook_log_lines "$(grep -vc '^-- ' "$out/hook.journal" || true)"
fact warnings "$(journalctl -u pagemeld -p warning -o cat --no-pager 2>/dev/null | wc -l)"
fact end ok
sync
say "done"
