#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's first command. On a fresh Debian 12 machine, as root:
#   - installs the dependencies and builds pagemeld;
#   - starts a private system-type dbus-daemon with the real io.pagemeld1
#     policy, and pagemeldd on it;
#   - plays packaging/kubernetes/example-pod.yaml with `podman kube play`
#     (runc, a private podman storage, no network, a local busybox+memfill
#     image): three containers opted in, a sidecar opted out, handed to
#     pagemeldd by the real OCI hook (pagemeld-oci-hook, from hooks.d);
#   - shows `pagemeldctl top` until the memory they share shows, then
#     `pagemeldctl list` and `status`;
#   - removes everything it started and restores every KSM knob (trap).
#   scripts/demo.sh --vm: the same demo on a real node instead: the .deb of
#   this tree in a Debian 12 VM with systemd and pure cgroup v2 (qemu, a few
#   minutes; tests/node), where every row shows a real state and a merge
#   budget is enforced.
# Environment: PAGEMELD_DEMO_SKIP_DEPS=1 skips install-deps.sh;
# PAGEMELD_BUILD=DIR uses an existing build directory (default: build/,
# set up if missing); PAGEMELD_DEMO_TIMEOUT=seconds (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
timeout=${PAGEMELD_DEMO_TIMEOUT:-60}

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it drives KSM, cgroups and containers)" >&2; exit 1; }
[ -e /sys/kernel/mm/ksm/run ] || { echo "demo.sh: this kernel has no KSM (CONFIG_KSM)" >&2; exit 1; }

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if [ "${PAGEMELD_DEMO_SKIP_DEPS:-0}" != 1 ]; then
	say "Installing dependencies (scripts/install-deps.sh)"
	bash scripts/install-deps.sh
fi
build=${PAGEMELD_BUILD:-$src/build}
say "Building in $build"
[ -d "$build" ] || meson setup "$build" >/dev/null
build=$(realpath "$build") # the hooks.d entry needs an absolute path
ninja -C "$build" >/dev/null
ctl=$build/api/pagemeldctl
for f in "$build/daemon/pagemeldd" "$build/runtime-hook/pagemeld-oci-hook" "$ctl" "$build/tests/memfill"; do
	[ -x "$f" ] || { echo "demo.sh: $f was not built" >&2; exit 1; }
done

if [ "${1:-}" = --vm ]; then
	say "The demo in the node VM (tests/node/nodelib.py demo)"
	PAGEMELD_BUILD=$build exec /usr/bin/python3 tests/node/nodelib.py demo
elif [ $# -gt 0 ]; then
	echo "usage: scripts/demo.sh [--vm]" >&2
	exit 2
fi

# --- everything below is undone by cleanup() -------------------------------
ksm=/sys/kernel/mm/ksm
work=$(mktemp -d /tmp/pagemeld-demo.XXXXXX)
chmod 755 "$work"
bus_pid="" daemon_pid="" played="" lock_fd=""
knobs=(advisor_mode pages_to_scan sleep_millisecs use_zero_pages smart_scan run)
declare -A saved=()
export CONTAINERS_CONF=$work/containers.conf CONTAINERS_STORAGE_CONF=$work/storage.conf

read_knob() {
	local v
	v=$(cat "$ksm/$1")
	[ "$1" = advisor_mode ] && v=$(sed 's/.*\[\(.*\)\].*/\1/' <<<"$v")
	echo "$v"
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	say "Cleaning up"
	if [ -n "$played" ]; then
		pod_id=$(podman pod inspect --format '{{.Id}}' pagemeld-demo 2>/dev/null)
		podman kube down "$src/packaging/kubernetes/example-pod.yaml" >/dev/null 2>&1
		podman pod rm --all --force --time 0 >/dev/null 2>&1
		# podman (cgroupfs) leaves the pod's empty cgroup directories behind
		[ -n "$pod_id" ] && rmdir /sys/fs/cgroup/*/libpod_parent/"$pod_id" 2>/dev/null
	fi
	# Not `podman system reset`: it would also drop the machine's CNI
	# networks, shared with every other podman user. The image, then
	# anything podman left mounted in our private storage, then the storage.
	[ -f "$CONTAINERS_STORAGE_CONF" ] && podman rmi --all --force >/dev/null 2>&1
	awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r | xargs -r umount -l 2>/dev/null
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid"
		for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$daemon_pid" 2>/dev/null
	fi
	if [ -n "$bus_pid" ]; then
		kill -TERM "$bus_pid" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$bus_pid" 2>/dev/null || break; sleep 0.1; done
	fi
	# Restore the KSM knobs, run last so ksmd never runs half-restored.
	for k in "${knobs[@]}"; do
		[ -n "${saved[$k]:-}" ] || continue
		[ "$k" = run ] && continue
		[ "$k" = pages_to_scan ] && [ "${saved[advisor_mode]:-none}" = scan-time ] && continue
		[ "$(read_knob "$k")" = "${saved[$k]}" ] || echo "${saved[$k]}" >"$ksm/$k" ||
			echo "demo.sh: could not restore $k=${saved[$k]}" >&2
	done
	[ -n "${saved[run]:-}" ] && echo "${saved[run]}" >"$ksm/run"
	# Still under the KSM lock: check that every knob is back.
	for k in "${knobs[@]}"; do
		[ -n "${saved[$k]:-}" ] || continue
		[ "$k" = pages_to_scan ] && [ "${saved[advisor_mode]:-none}" = scan-time ] && continue
		if [ "$(read_knob "$k")" != "${saved[$k]}" ]; then
			echo "demo.sh: KSM knob $k is $(read_knob "$k"), was ${saved[$k]}" >&2
			rc=1
		fi
	done
	rm -rf "$work"
	[ -n "$lock_fd" ] && exec {lock_fd}>&-
	echo "Removed the pod, its image and storage, pagemeldd and the bus."
	[ $rc = 0 ] && echo "KSM knobs restored and checked: $(for k in "${knobs[@]}"; do
		[ -n "${saved[$k]:-}" ] && printf '%s=%s ' "$k" "${saved[$k]}"; done)"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The machine-wide KSM lock the test suites share: the demo waits while a
# test is using KSM, and no test runs while the demo does.
mkdir -p /run/lock
exec {lock_fd}>>/run/lock/pagemeld-ksm-test.lock
if ! flock -n "$lock_fd"; then
	echo "Waiting for the KSM lock (a pagemeld test is using KSM)..."
	flock "$lock_fd"
fi
for k in "${knobs[@]}"; do [ -e "$ksm/$k" ] && saved[$k]=$(read_knob "$k"); done

say "Starting a private system bus with the io.pagemeld1 policy"
# the same bus configuration as the integration tests, with the real policy
sed -e "s|@SOCKET@|$work/system_bus_socket|" -e "s|@POLICY@|$src/packaging/dbus/io.pagemeld1.conf|" \
	tests/integration/system-bus.conf.in >"$work/bus.conf"
exec {bus_out}< <(exec dbus-daemon --config-file="$work/bus.conf" --nofork --nopidfile --print-address=1 --print-pid=1 2>/dev/null)
read -r -u "$bus_out" address
read -r -u "$bus_out" bus_pid
[ -n "$address" ] || { echo "demo.sh: dbus-daemon did not start" >&2; exit 1; }
export DBUS_SYSTEM_BUS_ADDRESS=$address
echo "  $address (pid $bus_pid)"

say "Starting pagemeldd"
cat >"$work/pagemeld.conf" <<EOF
[Daemon]
SweepIntervalSec=2
StartKsm=yes
[Scan]
PagesToScan=5000
SleepMillisecs=20
AdvisorMode=none
EOF
if [ ! -e "$ksm/advisor_mode" ]; then sed -i '/^AdvisorMode=/d' "$work/pagemeld.conf"; fi
# pagemeldd and the hook agree on the state dir: the hook reads its markers there
export PAGEMELD_STATE_DIR=$work/state
"$build/daemon/pagemeldd" --config "$work/pagemeld.conf" >"$work/pagemeldd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
	"$ctl" status >/dev/null 2>&1 && break
	kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/pagemeldd.log"; exit 1; }
	sleep 0.1
done
"$ctl" status >/dev/null || { cat "$work/pagemeldd.log"; exit 1; }
echo "  pid $daemon_pid; config: SweepIntervalSec=2, StartKsm=yes, ksmd scans 5000 pages every 20 ms"

say "Preparing podman: private storage, runc, the pagemeld OCI hook in hooks.d"
mkdir -p "$work/hooks.d"
for stage in create; do # no poststop: pagemeldd unregisters on init exit
	sed -e "s|/usr/libexec/oci/hooks.d/pagemeld-oci-hook|$build/runtime-hook/pagemeld-oci-hook|" \
		-e "s|\"args\":|\"env\": [\"DBUS_SYSTEM_BUS_ADDRESS=$address\", \"PAGEMELD_STATE_DIR=$PAGEMELD_STATE_DIR\"],\n\t\t\"args\":|" \
		"packaging/oci-hooks.d/50-pagemeld-$stage.json" >"$work/hooks.d/50-pagemeld-$stage.json"
done
cat >"$work/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$work/storage"
runroot = "$work/run"
EOF
cat >"$work/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
hooks_dir = ["$work/hooks.d"]
EOF
bash scripts/demo-image.sh "$build" >/dev/null
echo "  image localhost/pagemeld-demo:latest (busybox + memfill, imported: no registry)"

say "podman kube play packaging/kubernetes/example-pod.yaml"
sed -n '/annotations:/,/^spec:/p' packaging/kubernetes/example-pod.yaml | grep -v '^spec:' | grep -v '#'
echo "  containers app-1, app-2, app-3 and sidecar: 64 MiB identical + 4 MiB unique pages each"
played=1
start=$(date +%s.%N)
podman kube play --network none packaging/kubernetes/example-pod.yaml >/dev/null

# Refresh top until the three containers' merged memory shows (and always
# a few frames), at most $timeout seconds.
page=$(getconf PAGESIZE)
want=$((3 * 16384 * 90 / 100)) # 90% of the opted-in identical pages
merged_at=""
frames_after=0
while :; do
	"$ctl" top -n 1
	now=$(date +%s.%N)
	merging=$("$ctl" --json list | /usr/bin/python3 -c 'import json,sys; print(sum(c["merging_pages"] for c in json.load(sys.stdin)))')
	if [ -z "$merged_at" ] && [ "$merging" -ge "$want" ]; then
		merged_at=$(awk -v s="$start" -v e="$now" 'BEGIN { printf "%.1f", e - s }')
	fi
	if [ -n "$merged_at" ]; then
		frames_after=$((frames_after + 1))
		[ $frames_after -ge 3 ] && break
	fi
	if awk -v s="$start" -v e="$now" -v t="$timeout" 'BEGIN { exit !(e - s > t) }'; then
		echo
		echo "demo.sh: the containers' pages did not merge within ${timeout}s" >&2
		tail -20 "$work/pagemeldd.log" >&2
		exit 1
	fi
	sleep 2
done

say "pagemeldctl list"
"$ctl" list
say "pagemeldctl status"
"$ctl" status
managed=$("$ctl" --json list | /usr/bin/python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
saved_mib=$(($("$ctl" --json status | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["saved_bytes"])') / 1048576))
echo
echo "The 3 opted-in containers share their identical pages: ${saved_mib} MiB saved, shown ${merged_at}s"
echo "after 'podman kube play'. The opted-out sidecar is not managed ($managed cgroups managed, not 4)."
[ "$managed" = 3 ] || { echo "demo.sh: expected 3 managed cgroups, got $managed" >&2; exit 1; }
