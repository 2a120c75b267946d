# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM tier: swap-budget.pagemeld.io only lowers memory.swap.max, never raises
it (Debian 6.12 cloud kernel under qemu, pure cgroup v2 with the memory
controller and swap). One boot: dbus-daemon, pagemeldd with the shipped
default trust-domain mode, the OCI hook registering memfill "containers" from
a hand-written OCI state, as a runtime would.

 - raise: the cgroup's memory.swap.max is 16Mi (the kubelet's or the
   operator's limit); the attacker's pod asks for 1Gi. memory.swap.max stays
   16Mi at registration and after several sweeps (which re-apply budgets),
   and is 16Mi after the container goes.
 - lower: 16Mi found, 4Mi asked: 4Mi is written and kept by the sweeps; a
   restart of pagemeldd keeps it and still knows the 16Mi it found (persisted
   in the state dir): unregistering puts 16Mi back.
 - root: SetBudget (pagemeldctl budget, root only) may raise it: 64Mi over
   the 16Mi found is written and kept; 16Mi comes back when the container
   goes.
 - operator: 16Mi found, 4Mi asked, then the operator lowers the file to 2Mi
   while the container runs: the sweeps leave 2Mi (the operator's limit from
   then on), and 2Mi is what stays when the container goes.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import vmlib  # noqa: E402

MI = 1024 * 1024

CONF = """[Daemon]
SweepIntervalSec=1
LogLevel=debug
StartKsm=no
"""

SCENARIO = r"""
mkdir -p /run/dbus /run/pagemeld /etc/pagemeld
cat > /etc/pagemeld/pagemeld.conf <<'EOF'
@CONF@
EOF
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
/pm/dbus-daemon --config-file=/etc/dbus.conf --nofork --nopidfile > /tmp/dbus.log 2>&1 &
for i in $(seq 1 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
start_daemon() {
	/pm/pagemeldd --config /etc/pagemeld/pagemeld.conf --state-dir /run/pagemeld >> /tmp/pagemeldd.log 2>&1 &
	dpid=$!
	for i in $(seq 1 200); do /pm/pagemeldctl status > /dev/null 2>&1 && break; sleep 0.1; done
}
start_daemon
pm daemon up=$(/pm/pagemeldctl status > /dev/null 2>&1 && echo 1 || echo 0)
register() {
	echo "{\"ociVersion\":\"1.0.2\",\"id\":\"$1\",\"status\":\"creating\",\"pid\":$2,\"bundle\":\"/tmp\",\"annotations\":$3}" | /pm/pagemeld-oci-hook --fail-mode closed create
}
unregister() {
	echo "{\"ociVersion\":\"1.0.2\",\"id\":\"$1\",\"status\":\"stopped\",\"bundle\":\"/tmp\",\"annotations\":{\"merge.pagemeld.io\":\"true\"}}" | /pm/pagemeld-oci-hook --fail-mode closed stop
}

for c in raise lower operator; do
	mkdir -p $CG/$c
	echo 16M > $CG/$c/memory.swap.max
done

start_memfill r /raise --same 64 --unique 64 --sleep 0
rpid=$pid
register ctr-raise $rpid '{"merge.pagemeld.io":"true","swap-budget.pagemeld.io":"1Gi"}'
pm raise_registered rc=$? swap_max=$(cat $CG/raise/memory.swap.max)

start_memfill l /lower --same 64 --unique 64 --sleep 0
lpid=$pid
register ctr-lower $lpid '{"merge.pagemeld.io":"true","swap-budget.pagemeld.io":"4Mi"}'
pm lower_registered rc=$? swap_max=$(cat $CG/lower/memory.swap.max)

start_memfill o /operator --same 64 --unique 64 --sleep 0
opid=$pid
register ctr-operator $opid '{"merge.pagemeld.io":"true","swap-budget.pagemeld.io":"4Mi"}'
pm operator_registered rc=$? swap_max=$(cat $CG/operator/memory.swap.max)
echo 2M > $CG/operator/memory.swap.max

sleep 3.5
pm after_sweeps raise=$(cat $CG/raise/memory.swap.max) lower=$(cat $CG/lower/memory.swap.max) operator=$(cat $CG/operator/memory.swap.max)

kill -TERM $dpid; wait $dpid
pm daemon_stopped status=$?
start_daemon
sleep 3.5
pm after_restart up=$(/pm/pagemeldctl status > /dev/null 2>&1 && echo 1 || echo 0) containers=$(/pm/pagemeldctl list --json | grep -o '"path"' | wc -l) raise=$(cat $CG/raise/memory.swap.max) lower=$(cat $CG/lower/memory.swap.max) operator=$(cat $CG/operator/memory.swap.max)

# root's SetBudget is the operator's: it may raise the limit
/pm/pagemeldctl budget /raise --swap 64Mi > /tmp/budget.out 2>&1
rc=$?
sleep 2.5
pm root_raise rc=$rc swap_max=$(cat $CG/raise/memory.swap.max)

for c in raise lower operator; do
	unregister ctr-$c
	rc=$?
	sleep 0.3
	pm ${c}_gone rc=$rc swap_max=$(cat $CG/$c/memory.swap.max)
done
stop_memfill $rpid; stop_memfill $lpid; stop_memfill $opid
pm daemon_alive alive=$([ -d /proc/$dpid ] && echo 1 || echo 0)
kill -TERM $dpid; wait $dpid
pm daemon_exit status=$?
grep -E "Swap budget|memory.swap.max|Restored|Refusing|Registered|rror|annot" /tmp/pagemeldd.log | sed 's/^/PMVM daemonlog /'
""".replace("@CONF@", CONF.strip())


@pytest.fixture(scope="module")
def vm():
    return vmlib.boot_daemon(SCENARIO, "swap limits")


def test_registered_through_the_hook(vm):
    assert vm.get("daemon")["up"] == "1", vm.lines
    for c in ("raise", "lower", "operator"):
        assert vm.get(f"{c}_registered")["rc"] == "0", vm.lines
    assert not vm.all("error"), vm.all("error")


def test_larger_annotation_does_not_raise_swap_max(vm):
    assert int(vm.get("raise_registered")["swap_max"]) == 16 * MI, vm.lines
    # the sweeps re-apply budgets: still the limit found
    assert int(vm.get("after_sweeps")["raise"]) == 16 * MI, vm.lines
    assert int(vm.get("after_restart")["raise"]) == 16 * MI, vm.lines
    assert int(vm.get("raise_gone")["swap_max"]) == 16 * MI, vm.lines


def test_root_may_raise_with_set_budget(vm):
    r = vm.get("root_raise")
    assert r["rc"] == "0" and int(r["swap_max"]) == 64 * MI, vm.lines
    # and the limit found comes back all the same
    assert int(vm.get("raise_gone")["swap_max"]) == 16 * MI


def test_smaller_annotation_lowers_and_the_found_limit_comes_back(vm):
    assert int(vm.get("lower_registered")["swap_max"]) == 4 * MI, vm.lines
    assert int(vm.get("after_sweeps")["lower"]) == 4 * MI
    r = vm.get("after_restart")
    assert r["up"] == "1" and r["containers"] == "3", vm.lines
    assert int(r["lower"]) == 4 * MI
    # the 16Mi found at registration survived the restart (state dir)
    g = vm.get("lower_gone")
    assert g["rc"] == "0" and int(g["swap_max"]) == 16 * MI, vm.lines


def test_operator_lowering_while_registered_is_kept(vm):
    assert int(vm.get("operator_registered")["swap_max"]) == 4 * MI
    assert int(vm.get("after_sweeps")["operator"]) == 2 * MI, vm.lines
    assert int(vm.get("after_restart")["operator"]) == 2 * MI, vm.lines
    assert int(vm.get("operator_gone")["swap_max"]) == 2 * MI, vm.lines
    assert vm.get("daemon_alive")["alive"] == "1"
    assert vm.get("daemon_exit")["status"] == "0"
