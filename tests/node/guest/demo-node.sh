#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# scripts/demo.sh's demo on a real node (`scripts/demo.sh --vm`): pagemeld
# as the .deb installs it (the unit, the system bus, hooks.d), the example
# pod played with podman, pagemeldctl showing what merges, then a merge
# budget enforced. Run by node-checks.sh in the node VM; its last line is
# DEMO-NODE-OK when every row showed a real state and the budget held.
set -uo pipefail
here=/var/lib/pagemeld-node
say() { printf '\n== %s\n' "$*"; }
ctl_json() { pagemeldctl --json list 2>/dev/null | tr -d ' \n'; }
fail() {
	echo "DEMO-NODE-FAIL $*"
	exit 1
}

say "pagemeld on this node: the Debian package of this tree"
dpkg-query -W -f='  ${Package} ${Version}\n' pagemeld
echo "  kernel $(uname -r); cgroup v2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
systemctl status pagemeld --no-pager 2>&1 | sed -n '1,4p'
echo "  status: $(systemctl show -p StatusText --value pagemeld)"

say "A faster scan for the demo: TargetScanSec=10, KsmdCpuPercent=50 (systemctl reload)"
sed -i -e 's/^TargetScanSec=.*/TargetScanSec=10/' -e 's/^KsmdCpuPercent=.*/KsmdCpuPercent=50/' \
	-e 's/^SweepIntervalSec=.*/SweepIntervalSec=2/' /etc/pagemeld/pagemeld.conf
systemctl reload pagemeld || fail "reload"

say "podman kube play example-pod.yaml (through /usr/share/containers/oci/hooks.d)"
sed -n '/annotations:/,/^spec:/p' $here/example-pod.yaml | grep -v '^spec:' | grep -v '#'
echo "  containers app-1, app-2, app-3 and sidecar: 64 MiB identical + 4 MiB unique pages each"
podman pod exists pagemeld-demo 2>/dev/null && podman kube down $here/example-pod.yaml >/dev/null 2>&1
start=$(date +%s)
podman kube play --network none $here/example-pod.yaml >/dev/null || fail "kube play"

want=$((3 * 16384 * 90 / 100))
merged=0
for _ in $(seq 90); do
	merged=$(ctl_json | grep -o '"merging_pages":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }')
	[ "${merged:-0}" -ge $want ] && break
	sleep 2
done
pagemeldctl top -n 1
echo "  merged $merged pages of the three opted-in containers in $(($(date +%s) - start)) s"
[ "${merged:-0}" -ge $want ] || fail "only $merged pages merged, wanted $want"

say "pagemeldctl list"
pagemeldctl list
states=$(ctl_json | grep -o '"state":"[a-z-]*"' | cut -d'"' -f4 | sort | uniq -c | tr -s ' \n' ' ')
echo "  states: $states"
echo "$states" | grep -q unsupported && fail "a row is unsupported"
echo "$states" | grep -q merging || fail "no row is merging"

say "A merge budget: pagemeldctl budget CGROUP --merge 16Mi on app-1's cgroup"
pid=$(podman inspect --format '{{.State.Pid}}' pagemeld-demo-app-1)
cg=$(cut -d: -f3 /proc/"$pid"/cgroup)
busctl monitor --system io.pagemeld1 >/tmp/demo-monitor.out 2>&1 &
mon=$!
sleep 1
pagemeldctl budget "$cg" --merge 16Mi || fail "budget"
for _ in $(seq 60); do
	grep -q BudgetExceeded /tmp/demo-monitor.out && ctl_json | grep -q '"state":"over-budget"' && break
	sleep 1
done
kill $mon 2>/dev/null
pagemeldctl list
journalctl -u pagemeld -o cat --no-pager | grep -E "merge-any off|over its" | tail -3 | sed 's/^/  pagemeldd: /'
oom=$(awk '/^oom_kill / {print $2}' "/sys/fs/cgroup$cg/memory.events")
echo "  BudgetExceeded signals: $(grep -c BudgetExceeded /tmp/demo-monitor.out); OOM kills in the cgroup: $oom"
grep -q BudgetExceeded /tmp/demo-monitor.out || fail "no BudgetExceeded"
ctl_json | grep -q '"state":"over-budget"' || fail "no row over-budget"
[ "$oom" = 0 ] || fail "OOM kills"

say "pagemeldctl status"
pagemeldctl status
podman kube down $here/example-pod.yaml >/dev/null 2>&1
echo "DEMO-NODE-OK states: $states; budget enforced on $cg"
