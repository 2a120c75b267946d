# SPDX-License-Identifier: LGPL-2.1-or-later
"""A tenant's seccomp filter on prctl(PR_SET_MEMORY_MERGE) against pagemeldd.

The attacker (tests/helpers/remote-target --seccomp notif) answers the
injected prctl with a user notification nobody reads, so the thread
pagemeldd stopped for the call never comes back by itself. pagemeldd must
run such injections off its event loop: D-Bus Get answers within 100 ms and
other containers register in their usual time (D-Bus and hook socket) while
the attack lasts; the stuck call is given up after InjectStallMSec with the
attacker's registers and signal mask put back; the process is not tried
again at the next sweep; a restart does not hang on it; an over-budget
worker stuck on it does not keep KSM busy. A KILL filter kills only the
tenant's own process (KILL_THREAD only the thread we stopped), and its exit
reaches its parent however long the rest of the process takes to go.
"""
import os
import signal
import statistics
import subprocess
import threading
import time

import pytest

from attacker import (CONFIG, GET_BOUND, IDENTITIES, MERGE, STALL_MS, assert_identity, children_named, end_sweep, finish_attacker,
                      get_latencies, hook_register, masks, merge_on_then_exec, settled_masks, spawn_attacker, stall_daemon, start_sweep, timed, traced)
from pmtest import Daemon, busctl, hook_socket_register, ksm_fast_scan, ksm_stat, wait_for


@pytest.fixture
def daemon(bus):
    yield from stall_daemon(bus)


def registration_times(daemon, manager, cgroup, tag, n):
    dbus_t, hook_t = [], []
    for i in range(n):
        cg = cgroup()
        p = cg.spawn(["sleep", "600"])
        dt, path = timed(manager.register, f"{tag}-dbus-{i}", p.pid, MERGE)
        assert path.startswith("/io/pagemeld1/cgroup/")
        dbus_t.append(dt)
        cg2 = cgroup()
        p2 = cg2.spawn(["sleep", "600"])
        dt, path = timed(hook_register, daemon, f"{tag}-hook-{i}", p2.pid)
        assert path.startswith("/io/pagemeld1/cgroup/")
        hook_t.append(dt)
    return dbus_t, hook_t


@pytest.mark.parametrize("identity", IDENTITIES)
def test_unanswered_user_notification_stalls_nobody(daemon, manager, cgroup, identity):
    base_dbus, base_hook = registration_times(daemon, manager, cgroup, "before", 5)

    victim = cgroup()
    init = victim.spawn(["sleep", "600"])
    manager.register("tenant", init.pid, MERGE)
    manager.sweep()  # the registration's own sweep is over before the attacker comes
    attacker = spawn_attacker(victim, identity=identity)
    assert_identity(attacker.pid, identity)
    blk = settled_masks(attacker.pid)

    sweep = start_sweep(daemon)
    try:
        wait_for(lambda: traced(attacker.pid), 10, what="the injection into the attacker")
    except AssertionError as e:
        raise AssertionError(f"{e}\n{daemon.read_log()[-4000:]}") from None
    t_attack = time.monotonic()
    lat = get_latencies(manager, 10)
    att_dbus, att_hook = registration_times(daemon, manager, cgroup, "during", 3)
    lat += get_latencies(manager, 5)
    # all of the above happened while the attacker held an injection
    assert traced(attacker.pid), "the attack ended before the measurements did"
    measured_for = time.monotonic() - t_attack
    sweep_s = end_sweep(sweep)

    print(f"\nregistration before (median ms): dbus {statistics.median(base_dbus) * 1e3:.1f} "
          f"hook {statistics.median(base_hook) * 1e3:.1f}; during the attack (max ms): dbus "
          f"{max(att_dbus) * 1e3:.1f} hook {max(att_hook) * 1e3:.1f}; Get max {max(lat) * 1e3:.1f} ms "
          f"over {len(lat)} calls in {measured_for:.2f} s; Sweep answered after {sweep_s:.2f} s")
    assert max(lat) < GET_BOUND, lat
    # Not behind the attacker: each well within the stall (5 s), and within
    # what a loaded 2-core CI machine does to any registration (one took
    # 216 ms at load 10 here, against 9 ms before: the scheduler, not us)
    assert max(att_dbus) < max(0.5, 2 * max(base_dbus)), (att_dbus, base_dbus)
    assert max(att_hook) < max(0.5, 2 * max(base_hook)), (att_hook, base_hook)
    # Sweep answers once its injection is given up: after the stall deadline
    assert STALL_MS / 1e3 * 0.9 < sweep_s < STALL_MS / 1e3 + 10, sweep_s

    # The attacker is back as it was: untraced, same signal masks, alive.
    wait_for(lambda: not traced(attacker.pid), 5, what="the attacker detached")
    assert masks(attacker.pid) == blk
    assert attacker.poll() is None
    log = daemon.read_log()
    assert f"Cannot enable merging in pid {attacker.pid} of {victim.path}" in log, log[-3000:]
    assert "next try in" in log

    # Backoff: the next sweep leaves it alone (and so answers at once).
    sweep_s = end_sweep(start_sweep(daemon))
    assert sweep_s < 1.0, sweep_s
    assert not traced(attacker.pid)
    assert daemon.read_log().count(f"Cannot enable merging in pid {attacker.pid} ") == 1
    assert daemon.alive()
    finish_attacker(attacker)


def test_restart_does_not_hang_on_the_attacker(daemon, manager, cgroup):
    victim = cgroup()
    init = victim.spawn(["sleep", "600"])
    manager.register("tenant", init.pid, MERGE)
    manager.sweep()  # the registration's own sweep is over before the attacker comes
    attacker = spawn_attacker(victim)
    blk = settled_masks(attacker.pid)

    daemon.stop()
    t0 = time.monotonic()
    daemon.start()  # READY=1, after the restore's sweep
    ready_s = time.monotonic() - t0
    c = daemon.client()
    try:
        wait_for(lambda: traced(attacker.pid), 10, what="the restore's injection into the attacker")
        lat = get_latencies(c, 10)
        still = traced(attacker.pid)
        assert [str(r[1]) for r in c.list_cgroups()] == [victim.path]
    finally:
        c.close()
    print(f"\nrestart: READY after {ready_s:.2f} s; Get max {max(lat) * 1e3:.1f} ms while the attacker "
          f"was {'still ' if still else 'no longer '}traced")
    assert ready_s < STALL_MS / 1e3, ready_s
    assert max(lat) < GET_BOUND, lat
    wait_for(lambda: not traced(attacker.pid), STALL_MS / 1e3 + 5, what="the attacker detached")
    assert masks(attacker.pid) == blk
    finish_attacker(attacker)


@pytest.mark.parametrize("identity", IDENTITIES)
def test_kill_filter_kills_only_the_tenant(daemon, manager, cgroup, identity):
    victim = cgroup()
    init = victim.spawn(["sleep", "600"])
    manager.register("tenant", init.pid, MERGE)
    manager.sweep()  # the registration's own sweep is over before the attacker comes
    attacker = spawn_attacker(victim, kind="kill", identity=identity)
    assert_identity(attacker.pid, identity)
    sweep_s = end_sweep(start_sweep(daemon))
    # Its own filter killed it (SIGSYS), at our prctl: the ptrace path's
    # answer to a KILL filter. Nothing else is hurt, nothing waits.
    attacker.wait(10)
    assert attacker.returncode == -31, attacker.returncode
    assert init.poll() is None
    assert sweep_s < 2.0, sweep_s
    assert max(get_latencies(manager, 5)) < GET_BOUND
    cg = cgroup()
    p = cg.spawn(["sleep", "600"])
    assert manager.register("after", p.pid, MERGE).startswith("/io/pagemeld1/cgroup/")
    assert daemon.alive()


def tracer_of(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return int(next(line.split()[1] for line in f if line.startswith("TracerPid:")))
    except (FileNotFoundError, ProcessLookupError):
        return 0


def reaped_by_its_parent(p, timeout):
    """p's exit reaches its parent (us) within timeout: a dead process still
    traced by an injection helper stays a zombie its parent cannot collect
    (a container runtime would never see its container exit)."""
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"pid {p.pid} not reaped by its parent after {timeout} s: "
                             f"TracerPid {tracer_of(p.pid)}") from None


def leader_state(pid):
    """The state letter of the attacker's leader thread (its /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rindex(")") + 2]


@pytest.mark.parametrize("identity", IDENTITIES)
def test_kill_filter_slow_exit_reaches_the_parent(daemon, manager, cgroup, identity):
    """The KILL filter's process takes a while to go (its last thread
    unmaps 512 MiB): the thread we stopped, its leader, is dead well before
    the process is, and the exit is its parent's to collect once the
    process is gone, with nothing of ours in the way."""
    victim = cgroup()
    init = victim.spawn(["sleep", "600"])
    manager.register("tenant", init.pid, MERGE)
    manager.sweep()
    attacker = spawn_attacker(victim, kind="kill", pages=131072, identity=identity)
    assert_identity(attacker.pid, identity)
    t0 = time.monotonic()
    sweep_s = end_sweep(start_sweep(daemon))
    reaped_by_its_parent(attacker, 10)
    print(f"\nslow exit: Sweep answered after {sweep_s:.2f} s, the parent reaped the attacker "
          f"{time.monotonic() - t0:.2f} s after the sweep began")
    assert attacker.returncode == -signal.SIGSYS, attacker.returncode
    assert init.poll() is None
    assert max(get_latencies(manager, 5)) < GET_BOUND
    assert daemon.alive()


@pytest.mark.parametrize("identity", IDENTITIES)
def test_kill_thread_filter_process_exit_reaches_the_parent(daemon, manager, cgroup, identity):
    """SECCOMP_RET_KILL_THREAD kills only the thread we stopped (the leader);
    the process lives on without it, and when it ends, however much later,
    its parent collects it: the dead leader is not held for the process's
    lifetime by the helper that traced it."""
    victim = cgroup()
    init = victim.spawn(["sleep", "600"])
    manager.register("tenant", init.pid, MERGE)
    manager.sweep()
    attacker = spawn_attacker(victim, kind="kill-thread", identity=identity)
    assert_identity(attacker.pid, identity)
    end_sweep(start_sweep(daemon))
    wait_for(lambda: leader_state(attacker.pid) == "Z", 5, what="the attacker's leader dead")
    assert attacker.poll() is None  # the process lives on
    assert f"Cannot enable merging in pid {attacker.pid} of {victim.path}" in daemon.read_log()
    time.sleep(0.5)  # well after the injection: the helper is idle again
    attacker.kill()
    t0 = time.monotonic()
    reaped_by_its_parent(attacker, 10)
    print(f"\nkill-thread: the parent reaped the attacker {(time.monotonic() - t0) * 1e3:.0f} ms after its SIGKILL")
    assert attacker.returncode == -signal.SIGKILL, attacker.returncode
    assert init.poll() is None
    assert max(get_latencies(manager, 5)) < GET_BOUND
    assert daemon.alive()


def test_stuck_over_budget_worker_does_not_keep_ksm_busy(daemon, manager, cgroup, ksm):
    ksm_fast_scan()
    victim = cgroup()
    # merging on from its parent (kept over exec), filter installed after
    attacker = spawn_attacker(victim, pages=2048, preexec=merge_on_then_exec)
    blk = settled_masks(attacker.pid)
    manager.register("tenant", attacker.pid, {**MERGE, "merge-budget.pagemeld.io": "64Ki"})

    wait_for(lambda: ksm_stat(attacker.pid)["ksm_merging_pages"] > 64, 60, what="the attacker's pages merged")

    def write_knob():
        return busctl(daemon.bus_address, "set-property", "io.pagemeld1", "/io/pagemeld1", "io.pagemeld1.Manager",
                      "PagesToScan", "t", "5000", check=False)
    sweep = start_sweep(daemon)  # over budget: the worker unmerges the biggest merger
    wait_for(lambda: traced(attacker.pid), 10, what="the over-budget worker's injection")
    busy = write_knob()
    assert busy.returncode != 0 and "KSM is busy" in busy.stderr, busy
    t0 = time.monotonic()
    lat = get_latencies(manager, 5)
    wait_for(lambda: write_knob().returncode == 0, STALL_MS / 1e3 + 10, interval=0.2,
             what="KSM no longer busy")
    cleared_s = time.monotonic() - t0
    end_sweep(sweep)
    print(f"\nover-budget worker: busy cleared {cleared_s:.2f} s after the stall began; Get max "
          f"{max(lat) * 1e3:.1f} ms meanwhile")
    assert max(lat) < GET_BOUND, lat
    assert "Over-budget unmerge of " + victim.path in daemon.read_log()
    wait_for(lambda: not traced(attacker.pid), 5, what="the attacker detached")
    assert masks(attacker.pid) == blk
    finish_attacker(attacker)


def helper_pid(daemon, comm):
    pids = children_named(daemon.pid, comm)
    return pids[0] if pids else None


def test_stuck_helper_is_killed_and_replaced(bus, cgroup):
    """A helper that stops answering at all (here: SIGSTOPped) is killed
    after 2 x (stall + timeout) + 5 s, its request fails, the next one gets
    a new helper; D-Bus answers throughout."""
    d = Daemon(bus, config=CONFIG.replace(f"InjectStallMSec={STALL_MS}", "InjectStallMSec=100")
               .replace("InjectTimeoutSec=20", "InjectTimeoutSec=1"))
    d.start()
    c = d.client()
    try:
        tenant = cgroup()
        init = tenant.spawn(["sleep", "600"])
        c.register("tenant", init.pid, MERGE)
        c.sweep()
        old = helper_pid(d, "pagemeld-injswp")
        assert old, "no sweep helper"
        os.kill(old, signal.SIGSTOP)
        late = tenant.spawn(["sleep", "600"])
        sweep = start_sweep(d)
        lat = get_latencies(c, 20)
        sweep_s = end_sweep(sweep)
        assert max(lat) < GET_BOUND, lat
        assert 7.0 < sweep_s < 15, sweep_s
        assert "did not answer in time: killing it" in d.read_log()
        assert not os.path.exists(f"/proc/{old}") or helper_pid(d, "pagemeld-injswp") != old
        assert not ksm_stat(late.pid)["ksm_merge_any"]  # its request failed, backing off
        later = tenant.spawn(["sleep", "600"])
        c.sweep()
        new = helper_pid(d, "pagemeld-injswp")
        assert new and new != old
        assert ksm_stat(later.pid)["ksm_merge_any"]
        print(f"\nstuck helper: killed and Sweep answered after {sweep_s:.2f} s; Get max {max(lat) * 1e3:.1f} ms")
    finally:
        c.close()
        d.cleanup()


def test_sweep_leaves_a_registering_init_to_its_registration(daemon, manager, cgroup):
    """A sweep that comes while a registration's own enable of its init is in
    flight (held here by the tenant's filter; in the node VM, a slow enable
    and a 3 s sweep) leaves that process to the registration: a second
    tracer from the sweep's lane met the first one's EBUSY, and where the
    sweep's came first the registration got the EBUSY and was refused."""
    victim = cgroup()
    attacker = spawn_attacker(victim)
    reply = {}
    t = threading.Thread(target=lambda: reply.update(
        r=hook_socket_register(daemon, "registering", attacker.pid, MERGE, timeout=30)))
    t.start()
    try:
        wait_for(lambda: traced(attacker.pid), 10, what="the registration's injection")
        sweep_s = end_sweep(start_sweep(daemon))
    finally:
        t.join(40)
    log = daemon.read_log()
    assert f"Cannot enable merging in pid {attacker.pid} of" not in log, log[-3000:]
    print(f"\nSweep answered after {sweep_s:.2f} s; the registration: {reply['r'][:2]}")
    # the filter held the registration's own enable past InjectStallMSec
    assert reply["r"][0] != "ok", reply
    wait_for(lambda: not traced(attacker.pid), 5, what="the attacker detached")
    assert daemon.alive()
    finish_attacker(attacker)


def test_registration_of_a_process_the_sweep_is_enabling_waits_for_it(daemon, manager, cgroup):
    """The other way round: the sweep's enable of a process is in flight
    (held by the tenant's filter) when that process is registered as a
    container's init. The registration's enable waits for the sweep's
    rather than meeting it as EBUSY (which refused the registration)."""
    cg = cgroup()
    first = cg.spawn(["sleep", "600"])
    manager.register("first", first.pid, MERGE)
    manager.sweep()
    attacker = spawn_attacker(cg)
    sweep = start_sweep(daemon)
    try:
        wait_for(lambda: traced(attacker.pid), 10, what="the sweep's injection")
        t0 = time.monotonic()
        reply = hook_socket_register(daemon, "second", attacker.pid, MERGE, timeout=40)
        took = time.monotonic() - t0
    finally:
        end_sweep(sweep)
    print(f"\nthe registration: {reply} after {took:.2f} s")
    assert "busy" not in " ".join(reply).lower(), reply
    # the tenant's filter holds the registration's own enable too: refused
    # once that is given up, after the sweep's
    assert reply[0] != "ok" and took > STALL_MS / 1e3 * 0.9, (reply, took)
    wait_for(lambda: not traced(attacker.pid), 5, what="the attacker detached")
    assert daemon.alive()
    finish_attacker(attacker)
