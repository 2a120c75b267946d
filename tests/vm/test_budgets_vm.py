# SPDX-License-Identifier: LGPL-2.1-or-later
"""VM tier, part 2: pagemeldd's budgets on a kernel with the v2 memory
controller and swap (Debian 6.12 cloud kernel under qemu TCG). One boot:
dbus-daemon, pagemeldd (seccomp on), the OCI hook registering memfill
"containers" from a hand-written OCI state, pagemeldctl for the methods.

 - budget: merge-budget.pagemeld.io=1Mi; pagemeld unmerges the merger while
   that still fits; then memory.max is set just above usage (as in
   test_kernel_facts_vm, where the same thing without a budget OOM-kills)
   and a bare unmerge-all kills nothing;
 - headroom: no budget, memory.max lowered just above the merged usage:
   pagemeld marks the cgroup over-budget (BudgetExceeded) but does not
   unmerge what cannot fit (no kill); UnmergeAll is refused with
   InsufficientHeadroom naming the cgroup and its numbers; SetBudget's swap
   budget is written to memory.swap.max; UnmergeAll then completes with
   swap, honouring memory.swap.max, nothing killed, data intact; when the
   container goes, memory.swap.max gets its previous value back.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import vmlib  # noqa: E402

SAME = 4096  # 16 MiB of identical pages
GAP = 2 * 1024 * 1024
SWAP_BUDGET = 32 * 1024 * 1024

CONF = """[Daemon]
SweepIntervalSec=1
LogLevel=debug
StartKsm=no
[Budgets]
HeadroomMargin=1Mi
UnmergeAllMargin=8Mi
[TrustDomain]
Mode=off
"""

SCENARIO = r"""
mkdir -p /run/dbus /run/pagemeld /etc/pagemeld
cat > /etc/pagemeld/pagemeld.conf <<'EOF'
@CONF@
EOF
export DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/dbus/system_bus_socket
/pm/dbus-daemon --config-file=/etc/dbus.conf --nofork --nopidfile > /tmp/dbus.log 2>&1 &
for i in $(seq 1 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.1; done
/pm/pagemeldd --config /etc/pagemeld/pagemeld.conf --state-dir /run/pagemeld > /tmp/pagemeldd.log 2>&1 &
dpid=$!
for i in $(seq 1 200); do /pm/pagemeldctl status > /dev/null 2>&1 && break; sleep 0.1; done
pm daemon up=$(/pm/pagemeldctl status > /dev/null 2>&1 && echo 1 || echo 0)
# register ID PID ANNOTATIONS_JSON (the OCI state a runtime would pass)
register() {
	echo "{\"ociVersion\":\"1.0.2\",\"id\":\"$1\",\"status\":\"creating\",\"pid\":$2,\"bundle\":\"/tmp\",\"annotations\":$3}" | /pm/pagemeld-oci-hook --fail-mode closed create
}
unregister() {
	echo "{\"ociVersion\":\"1.0.2\",\"id\":\"$1\",\"status\":\"stopped\",\"bundle\":\"/tmp\",\"annotations\":{\"merge.pagemeld.io\":\"true\"}}" | /pm/pagemeld-oci-hook --fail-mode closed stop
}
log_has() { grep -q "$1" /tmp/pagemeldd.log; }
wait_log() { for i in $(seq 1 $(($2 * 10))); do log_has "$1" && return 0; sleep 0.1; done; return 1; }
ksm_fast 8192 10

# --- merge budget: pagemeld keeps the debt small, unmerge-all is safe -----
mkdir -p $CG/budget
echo 0 > $CG/budget/memory.swap.max
start_memfill b /budget --same @SAME@ --unique 64 --merge --sleep 0
register ctr-budget $pid '{"merge.pagemeld.io":"true","merge-budget.pagemeld.io":"1Mi"}'
pm budget_registered rc=$?
wait_log "merge-any off in 1 processes of /budget" 60 && r=1 || r=0
pm budget_unmerged by_pagemeld=$r state=$(/pm/pagemeldctl list --json | tr -d ' \n' | grep -o '"state":"[a-z-]*"' | head -1 | cut -d'"' -f4)
sleep 1
echo 0 > $KSM/run
cur=$(cat $CG/budget/memory.current)
echo $((cur + @GAP@)) > $CG/budget/memory.max
t0=$(now_ms)
if echo 2 > $KSM/run; then rc=0; else rc=1; fi
pm budget current=$cur max=$(cat $CG/budget/memory.max) write_failed=$rc ms=$(($(now_ms) - t0)) oom_kill=$(oom_kills /budget) alive=$([ -d /proc/$pid ] && echo 1 || echo 0)
stop_memfill $pid
pm budget_exit status=$status
unregister ctr-budget
pm budget_unregistered rc=$?
echo 1 > $KSM/run

# --- headroom: refused, then swap budget, then it completes ---------------
mkdir -p $CG/tight
echo 0 > $CG/tight/memory.swap.max
start_memfill t /tight --same @SAME@ --unique 64 --merge --sleep 0
wait_merged $pid $((@SAME@ * 98 / 100)) 120 || pm error merge_timeout_t
register ctr-tight $pid '{"merge.pagemeld.io":"true"}'
pm tight_registered rc=$?
sleep 1
cur=$(cat $CG/tight/memory.current)
echo $((cur + @GAP@)) > $CG/tight/memory.max
wait_log "/tight over its headroom limit" 20 && r=1 || r=0
wait_log "processes stay merged: unmerging them would need" 20 && u=1 || u=0
pm tight_over logged=$r unsafe_logged=$u merging=$(merging_pages $pid) oom_kill=$(oom_kills /tight) state=$(/pm/pagemeldctl list --json | tr -d ' \n' | grep -o '"state":"[a-z-]*"' | head -1 | cut -d'"' -f4)
/pm/pagemeldctl unmerge-all > /tmp/refused.out 2> /tmp/refused.err
pm tight_refused rc=$? run=$(cat $KSM/run) sharing=$(cat $KSM/pages_sharing)
echo "PMVM refused_msg $(cat /tmp/refused.err)"
/pm/pagemeldctl disable /tight > /tmp/disable.out 2> /tmp/disable.err
pm tight_disable_refused rc=$? merging=$(merging_pages $pid) oom_kill=$(oom_kills /tight)
echo "PMVM disable_msg $(cat /tmp/disable.err)"
/pm/pagemeldctl budget /tight --swap @SWAP@ > /tmp/budget.out 2>&1
pm tight_swap_budget rc=$? swap_max=$(cat $CG/tight/memory.swap.max)
t0=$(now_ms)
/pm/pagemeldctl unmerge-all --force --wait > /tmp/forced.out 2>&1
pm tight_forced rc=$? ms=$(($(now_ms) - t0)) oom_kill=$(oom_kills /tight) alive=$([ -d /proc/$pid ] && echo 1 || echo 0) sharing=$(cat $KSM/pages_sharing) run=$(cat $KSM/run) swap_current=$(cat $CG/tight/memory.swap.current) swap_peak=$(cat $CG/tight/memory.swap.peak) swap_max=$(cat $CG/tight/memory.swap.max)
log_has "UnmergeFinished" ; grep -E "UnmergeAll" /tmp/pagemeldd.log | tail -3 | sed 's/^/PMVM daemonlog /'
stop_memfill $pid
pm tight_exit status=$status
unregister ctr-tight
pm tight_unregistered rc=$?
sleep 0.5
pm tight_gone swap_max=$(cat $CG/tight/memory.swap.max)
# --- the swap budget from the annotation, put back when the container goes
mkdir -p $CG/annot
start_memfill a /annot --same 64 --unique 64 --merge --sleep 0
before=$(cat $CG/annot/memory.swap.max)
register ctr-annot $pid '{"merge.pagemeld.io":"true","swap-budget.pagemeld.io":"8Mi"}'
pm annot_registered rc=$? before=$before swap_max=$(cat $CG/annot/memory.swap.max)
unregister ctr-annot
pm annot_gone rc=$? swap_max=$(cat $CG/annot/memory.swap.max)
stop_memfill $pid
pm daemon_alive alive=$([ -d /proc/$dpid ] && echo 1 || echo 0)
kill -TERM $dpid; wait $dpid
pm daemon_exit status=$?
grep -E "over its|stay merged|Swap budget|Restored memory.swap.max|memory.swap.max|refused|UnmergeAll|Unregistered|Forgetting" /tmp/pagemeldd.log | sed 's/^/PMVM daemonlog /'
""".replace("@CONF@", CONF.strip()).replace("@SAME@", str(SAME)).replace("@GAP@", str(GAP)) \
    .replace("@SWAP@", str(SWAP_BUDGET))


@pytest.fixture(scope="module")
def vm():
    return vmlib.boot_daemon(SCENARIO, "daemon")


def test_daemon_runs_in_vm(vm):
    assert vm.get("daemon")["up"] == "1"
    assert vm.get("budget_registered")["rc"] == "0"
    assert vm.get("tight_registered")["rc"] == "0"
    assert not vm.all("error"), vm.all("error")


def test_budget_unmerges_inside_the_limit_nothing_killed(vm):
    u = vm.get("budget_unmerged")
    assert u["by_pagemeld"] == "1", vm.lines
    assert u["state"] == "over-budget"
    r = vm.get("budget")
    assert int(r["max"]) == int(r["current"]) + GAP
    # the same tight limit that OOM-kills without a budget
    # (test_kernel_facts_vm) kills nothing here
    assert r["write_failed"] == "0", r
    assert int(r["oom_kill"]) == 0, r
    assert r["alive"] == "1"
    assert vm.get("budget_exit")["status"] == "0"


def test_headroom_over_budget_without_killing(vm):
    t = vm.get("tight_over")
    assert t["logged"] == "1" and t["unsafe_logged"] == "1", vm.lines
    # the merger could not be unmerged safely: left merged, nothing killed
    assert int(t["merging"]) >= SAME * 98 // 100
    assert int(t["oom_kill"]) == 0
    assert t["state"] == "over-budget"


def test_unmerge_all_refused_when_headroom_short(vm):
    r = vm.get("tight_refused")
    assert r["rc"] != "0"
    assert r["run"] == "1" and int(r["sharing"]) > 0  # nothing was done
    msg = " ".join(line for line in vm.lines if line.startswith("refused_msg"))
    assert "/tight" in msg and "headroom" in msg and "merge debt" in msg, msg


def test_swap_budget_written_and_honoured_forced_unmerge_completes(vm):
    s = vm.get("tight_swap_budget")
    assert s["rc"] == "0"
    assert int(s["swap_max"]) == SWAP_BUDGET
    f = vm.get("tight_forced")
    assert f["rc"] == "0", vm.lines
    assert int(f["oom_kill"]) == 0, f
    assert f["alive"] == "1"
    assert f["run"] == "1"  # restored to what it was (ksmd merges again at once)
    done = [line for line in vm.lines if "UnmergeAll finished" in line]
    assert done and "-> 0, run=1" in done[0], vm.lines
    assert int(f["swap_max"]) == SWAP_BUDGET
    assert 0 < int(f["swap_current"]) <= SWAP_BUDGET and int(f["swap_peak"]) <= SWAP_BUDGET, f
    assert vm.get("tight_exit")["status"] == "0"


def test_disable_cgroup_refused_when_headroom_short(vm):
    r = vm.get("tight_disable_refused")
    assert r["rc"] != "0"
    assert int(r["merging"]) >= SAME * 98 // 100 and int(r["oom_kill"]) == 0
    msg = " ".join(line for line in vm.lines if line.startswith("disable_msg"))
    assert "DisableCgroup /tight refused" in msg and "headroom" in msg, msg


def test_swap_budget_from_annotation(vm):
    a = vm.get("annot_registered")
    assert a["rc"] == "0"
    assert a["before"] == "max"
    assert int(a["swap_max"]) == 8 * 1024 * 1024
    g = vm.get("annot_gone")
    assert g["rc"] == "0" and g["swap_max"] == "max"


def test_swap_max_restored_when_container_goes(vm):
    assert vm.get("budget_unregistered")["rc"] == "0"
    assert vm.get("tight_unregistered")["rc"] == "0"
    assert vm.get("tight_gone")["swap_max"] == "0"
    assert vm.get("daemon_alive")["alive"] == "1"
    assert vm.get("daemon_exit")["status"] == "0"
