# SPDX-License-Identifier: LGPL-2.1-or-later
"""Attacks on the node-wide KSM knobs through pagemeldd's unmerge jobs.

An UnmergeAll or SetMergeAcrossNodes writes run=2 in a forked worker. A
tenant that gets pagemeldd killed mid-job (an OOM it provokes, a watchdog
stall, systemd's SIGKILL of the unit's cgroup) must not leave KSM stopped
(run=0: the kernel's answer to an interrupted run=2 write) or unmerging
(run=2) for every other tenant, nor a merge_across_nodes switch nobody
acknowledged. And SetMergeAcrossNodes, which unmerges everything as
UnmergeAll does, must be refused the same way when the node cannot take
the copies back.

Each kill test: pagemeldd is SIGKILLed while the kernel is unmerging; its
worker dies with it (PR_SET_PDEATHSIG) instead of holding ksm_thread_mutex;
the job's record is in the state directory; the next pagemeldd puts run and
merge_across_nodes back as they were before the call.
"""
import os
import subprocess
import threading
import time

import dbus
import pytest

from attacker import children_named
from pmtest import (DEFAULT_DAEMON_CONFIG, KSM, big_merged_workload, build_path, dbus_error_name, ksm_fast_scan, merged,
                    read_knob, wait_for, write_knob)

CONFIG = DEFAULT_DAEMON_CONFIG
JOURNAL = "ksm-job"
FORCE = 1


def gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def kill_while_unmerging(d):
    """SIGKILL pagemeldd once the kernel is inside the worker's run=2 write;
    returns the worker's pid (it is the daemon's child named pagemeld-unmrg)."""
    wait_for(lambda: read_knob("run") == "2", 30, interval=0.002, what="run=2 (the worker unmerging)")
    workers = children_named(d.pid, "pagemeld-unmrg")
    assert len(workers) == 1, workers
    d.kill()
    return workers[0]


def test_daemon_killed_during_unmerge_all(ksm, start_daemon, cgroup):
    d = start_daemon()
    m = d.client()
    cg = cgroup()
    try:
        big_merged_workload(m, cg, 3, "knob-a")
        assert read_knob("run") == "1"
        m.manager.UnmergeAll(True)
        journal = os.path.join(d.state_dir, JOURNAL)
        worker = kill_while_unmerging(d)
        # the job was recorded before run=2 was written, with run's value
        with open(journal) as f:
            rec = f.read()
        assert "job=unmerge-all\n" in rec and "run=1\n" in rec, rec
        # the worker dies with pagemeldd instead of finishing unwatched
        wait_for(lambda: gone(worker), 10, what=f"the unmerge worker {worker} gone with pagemeldd")
        # what the kernel leaves of an interrupted run=2: KSM stopped
        assert read_knob("run") == "0"
    finally:
        m.close()

    t0 = time.monotonic()
    d.start()
    took = time.monotonic() - t0
    assert read_knob("run") == "1"
    assert not os.path.exists(journal)
    log = d.read_log()
    assert "KSM job unmerge-all did not finish" in log
    assert "Restored KSM run=1 (it was 0)" in log
    print(f"\nrestart with repair: READY after {took * 1000:.0f} ms")
    # the restarted daemon is whole: KSM-wide jobs run again
    m = d.client()
    try:
        assert m.get("KsmRun") == "running"
    finally:
        m.close()


# What a worker killed with pagemeldd leaves, by the moment of the kill:
# "as-killed" inside the run=2 write (the kernel sets run=0), "unmerged"
# after that write while waiting for pages_shared == 0 (run stays 2),
# "switched" after writing merge_across_nodes, before run=1. The kill lands
# in the write; the two later states are then made by hand, with the same
# writes the worker does, as the SIGKILL cannot be aimed between them.
@pytest.mark.parametrize("left", ["as-killed", "unmerged", "switched"])
def test_daemon_killed_during_set_merge_across_nodes(ksm, start_daemon, cgroup, left):
    if not (KSM / "merge_across_nodes").exists():
        pytest.skip("kernel without NUMA: no merge_across_nodes")
    d = start_daemon()
    m = d.client()
    cg = cgroup()
    before = read_knob("merge_across_nodes")
    journal = os.path.join(d.state_dir, JOURNAL)
    result = {}
    try:
        big_merged_workload(m, cg, 3, "knob-n")

        def call():
            c = d.client()
            try:
                c.manager.SetMergeAcrossNodesWithFlags(before == "0", dbus.UInt64(FORCE), timeout=300)
                result["ok"] = True
            except dbus.exceptions.DBusException as e:
                result["error"] = e.get_dbus_name()
        t = threading.Thread(target=call)
        t.start()
        worker = kill_while_unmerging(d)
        t.join(30)
        assert not t.is_alive()
        # the caller got no success: the switch was never acknowledged
        assert "ok" not in result, result
        with open(journal) as f:
            rec = f.read()
        assert "job=merge-across-nodes\n" in rec and "run=1\n" in rec
        assert f"merge_across_nodes={before}\n" in rec
        wait_for(lambda: gone(worker), 10, what=f"the unmerge worker {worker} gone with pagemeldd")
        assert read_knob("run") == "0"  # the kernel's answer to an interrupted run=2
        if left in ("unmerged", "switched"):
            write_knob("run", 2)
            wait_for(lambda: read_knob("pages_shared") == "0", 30, what="pages_shared == 0")
        if left == "switched":
            write_knob("merge_across_nodes", "1" if before == "0" else "0")
        left_run = read_knob("run")
    finally:
        m.close()

    d.start()
    assert read_knob("run") == "1"
    assert read_knob("merge_across_nodes") == before
    assert not os.path.exists(journal)
    log = d.read_log()
    assert "KSM job merge-across-nodes did not finish" in log
    assert f"Restored KSM run=1 (it was {left_run})" in log
    assert (f"Restored KSM merge_across_nodes={before}" in log) == (left == "switched")


def test_set_merge_across_nodes_needs_headroom(ksm, start_daemon, cgroup):
    """Switching merge_across_nodes unmerges everything: refused when the
    node cannot absorb it (a margin larger than any machine here), as
    UnmergeAll(false) is, and only forcing does it anyway."""
    if not (KSM / "merge_across_nodes").exists():
        pytest.skip("kernel without NUMA: no merge_across_nodes")
    d = start_daemon(CONFIG + "[Budgets]\nUnmergeAllMargin=1000Ti\n")
    m = d.client()
    cg = cgroup()
    try:
        p = cg.spawn_memfill(same=4096, unique=16, merge=True)
        ksm_fast_scan()
        merged(p.pid, 4000, timeout=60)
        m.register("knob-h", p.pid, {"merge.pagemeld.io": "true"})
        before = read_knob("merge_across_nodes")
        sharing = int(read_knob("pages_sharing"))
        want = before == "0"
        for call in (lambda: m.manager.SetMergeAcrossNodes(want, timeout=60),
                     lambda: m.manager.SetMergeAcrossNodesWithFlags(want, dbus.UInt64(0), timeout=60)):
            with pytest.raises(dbus.exceptions.DBusException) as e:
                call()
            assert dbus_error_name(e) == "io.pagemeld1.Error.InsufficientHeadroom"
            msg = str(e.value)
            for word in ("SetMergeAcrossNodes refused", "pages_sharing", "MemAvailable", "margin",
                         "SetMergeAcrossNodesWithFlags"):
                assert word in msg, msg
        # nothing happened: no unmerge, no switch, no record
        assert read_knob("merge_across_nodes") == before
        assert read_knob("run") == "1"
        assert int(read_knob("pages_sharing")) >= sharing // 2
        assert not os.path.exists(os.path.join(d.state_dir, JOURNAL))
        # unknown flags are refused, not ignored
        with pytest.raises(dbus.exceptions.DBusException) as e:
            m.manager.SetMergeAcrossNodesWithFlags(want, dbus.UInt64(2), timeout=60)
        assert dbus_error_name(e) == "org.freedesktop.DBus.Error.InvalidArgs"
        assert read_knob("merge_across_nodes") == before

        # pagemeldctl: refused without --force (exit 5: refused), done with it
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=d.bus_address)
        onoff = "on" if want else "off"
        ctl = [str(build_path("api", "pagemeldctl")), "merge-across-nodes"]
        r = subprocess.run(ctl + [onoff], capture_output=True, text=True, env=env, timeout=120)
        assert r.returncode == 5 and "not enough free memory" in r.stderr and "--force" in r.stderr, r
        assert read_knob("merge_across_nodes") == before
        r = subprocess.run(ctl + ["--force", onoff], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r
        assert read_knob("merge_across_nodes") == ("1" if want else "0")
        assert read_knob("run") == "1"
        assert "SetMergeAcrossNodes(%s)(force) started" % ("true" if want else "false") in d.read_log()
        # and back, forced through D-Bus
        m.manager.SetMergeAcrossNodesWithFlags(not want, dbus.UInt64(FORCE), timeout=300)
        assert read_knob("merge_across_nodes") == before
        assert read_knob("run") == "1"
        assert not os.path.exists(os.path.join(d.state_dir, JOURNAL))
    finally:
        m.close()
