# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tenant with many sleeping processes against pagemeldd's fd table.

The sweep keeps ksm_stat (and statm) of each managed process open between
sweeps. Uncapped, a tenant that forks enough sleepers fills pagemeldd's fd
table, and every other tenant's registration then fails (no fd for its
pidfd, none for the hook connection). The cache holds at most half of
RLIMIT_NOFILE; beyond that the sweep opens and closes. Here pagemeldd's
limit is lowered to 256 with prlimit and the tenant forks 400 sleepers.
"""
import os
import subprocess

from attacker import hook_register
from pmtest import wait_for

MERGE = {"merge.pagemeld.io": "true"}
NOFILE = 256
SLEEPERS = 400


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_many_sleepers_leave_fds_for_other_tenants(daemon, manager, cgroup):
    subprocess.run(["prlimit", f"--pid={daemon.pid}", f"--nofile={NOFILE}:{NOFILE}"], check=True)
    tenant = cgroup()
    init = tenant.spawn(["sh", "-c", f"for i in $(seq {SLEEPERS}); do sleep 600 & done; wait"])
    wait_for(lambda: len(tenant.pids()) == SLEEPERS + 1, 60, what="the sleepers")
    path = manager.register("forker", init.pid, MERGE)
    for _ in range(3):
        manager.sweep()
    assert int(manager.cgroup_props(path)["Processes"]) == SLEEPERS + 1
    fds = open_fds(daemon.pid)
    # the cache stops at half the limit; the rest is the daemon's own
    assert fds <= NOFILE // 2 + 64, fds

    # Another tenant registers, through D-Bus and through the hook socket.
    other = cgroup()
    p = other.spawn(["sleep", "600"])
    assert manager.register("other", p.pid, MERGE).startswith("/io/pagemeld1/cgroup/")
    third = cgroup()
    q = third.spawn(["sleep", "600"])
    assert hook_register(daemon, "third", q.pid).startswith("/io/pagemeld1/cgroup/")
    manager.sweep()
    assert {str(r[1]) for r in manager.list_cgroups()} == {tenant.path, other.path, third.path}
    assert int(manager.cgroup_props(path)["Processes"]) == SLEEPERS + 1
    assert daemon.alive()
