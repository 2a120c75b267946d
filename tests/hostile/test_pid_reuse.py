# SPDX-License-Identifier: LGPL-2.1-or-later
"""Pid churn against the sweep: a pid read from cgroup.procs is acted on only
if, once a pidfd pins it, it is still a process of that cgroup.

Between the sweep's listing and its call into a process there is a window:
the call waits its turn in the sweep's injector, here behind an attacker
whose injection stalls for STALL_MS. A process moved out of the managed
cgroup in that window (or whose pid, once free, names a process elsewhere:
tests/unit/test-pidfd-util covers the exited and recycled cases on a fixture
/proc) must not be touched: no ptrace stop, merging left as it was. A
process that stays is enabled, so the queued path did act.
"""
import os
import time

import pytest

from attacker import MERGE, STALL_MS, end_sweep, finish_attacker, spawn_attacker, stall_daemon, start_sweep, traced
from pmtest import ksm_stat, wait_for


@pytest.fixture
def daemon(bus):
    yield from stall_daemon(bus)


def merge_any(pid):
    stat = ksm_stat(pid)
    if "ksm_merge_any" not in stat:
        pytest.skip("ksm_stat without ksm_merge_any (before 6.14)")
    return stat["ksm_merge_any"]


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def test_process_moved_out_before_the_call_is_not_touched(daemon, manager, cgroup):
    tenant = cgroup()
    init = tenant.spawn(["sleep", "600"])
    manager.register("tenant", init.pid, MERGE)
    manager.sweep()  # the registration's own sweep is over before the attacker comes
    elsewhere = cgroup()  # not managed: another tenant's, or the host's
    # pids in this order: the attacker's call comes first and holds the queue
    attacker = spawn_attacker(tenant)
    mover = tenant.spawn(["sleep", "600"])
    stayer = tenant.spawn(["sleep", "600"])
    assert attacker.pid < mover.pid < stayer.pid
    assert not merge_any(mover.pid) and not merge_any(stayer.pid)

    sweep = start_sweep(daemon)  # lists all three, then calls one at a time
    wait_for(lambda: traced(attacker.pid), 10, what="the attacker's stalled injection")
    with open(elsewhere.dir / "cgroup.procs", "w") as f:
        f.write(str(mover.pid))
    before = status(mover.pid)
    tracers = set()
    t0 = time.monotonic()
    while sweep[1].poll() is None and time.monotonic() - t0 < STALL_MS / 1e3 + 10:
        tracers.add(status(mover.pid)["TracerPid"])
        time.sleep(0.002)
    end_sweep(sweep)

    assert tracers == {"0"}, tracers  # never stopped
    assert not merge_any(mover.pid)
    after = status(mover.pid)
    for k in ("SigBlk", "SigPnd", "ShdPnd", "State", "voluntary_ctxt_switches"):
        assert after[k] == before[k], (k, before[k], after[k])
    assert merge_any(stayer.pid)  # the queued calls did run
    log = daemon.read_log()
    assert f"pid {mover.pid} " not in log, log[-2000:]
    assert f"Enabled merging in pid {stayer.pid} of {tenant.path}" in log
    assert os.path.exists(f"/proc/{mover.pid}")
    finish_attacker(attacker)
