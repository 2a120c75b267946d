# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeldd's life: persistence and crash restore, the sweep, SIGHUP
reload, configuration errors, seccomp, KSM start and tunables."""
import json
import os
import re
import subprocess
import threading
import time


from conftest import (DEFAULT_DAEMON_CONFIG, Daemon, SignalRecorder, as_unit, build_path, capability_mask,
                      ksm_fast_scan, ksm_stat, proc_status_caps, unit_capabilities, wait_for)


def all_container_ids(client):
    ids = set()
    for row in client.list_cgroups():
        try:
            props = client.cgroup_props(str(row[0]))
        except client.dbus.DBusException as e:
            # the cgroup went between ListCgroups and GetAll (its last init exited)
            if e.get_dbus_name() != "org.freedesktop.DBus.Error.UnknownObject":
                raise
            continue
        ids.update(str(c[0]) for c in props["Containers"])
    return ids


def test_daemon_runs_with_the_units_capabilities_only(daemon):
    """The tier runs pagemeldd as the unit does: its bounding set is the
    unit's CapabilityBoundingSet=, and so is everything it holds."""
    want = capability_mask(unit_capabilities())
    assert want & capability_mask(["sys_ptrace"])
    assert not want & capability_mask(["kill", "sys_admin"])
    caps = proc_status_caps(daemon.pid)
    assert caps["CapBnd"] == want, f"CapBnd {caps['CapBnd']:#x}, unit {want:#x}"
    assert caps["CapEff"] == want and caps["CapPrm"] == want
    assert caps["CapInh"] == 0 and caps["CapAmb"] == 0
    with open(f"/proc/{daemon.pid}/status") as f:
        assert "NoNewPrivs:\t1" in f.read()


USER = 1000
AS_USER = ["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups", "--"]


def test_restart_restores_containers_of_other_users_and_user_namespaces(daemon, cgroup):
    """Pods mostly run as non-root, or in a user namespace owned by one: a
    daemon without CAP_KILL must still register them and, after a restart,
    find their inits alive and restore them."""
    kinds = {
        "root-1": [],
        "user-1": AS_USER,
        "userns-1": AS_USER + ["unshare", "--user", "--map-root-user"],
    }
    procs = {}
    c = daemon.client()
    try:
        for cid, prefix in kinds.items():
            p = cgroup(cid.split("-")[0]).spawn_memfill(same=4, unique=1, prefix=prefix)
            procs[cid] = p
            c.register(cid, p.pid)
        with open(f"/proc/{procs['user-1'].pid}/status") as f:
            assert f"Uid:\t{USER}\t" in f.read()
        assert os.readlink(f"/proc/{procs['userns-1'].pid}/ns/user") != os.readlink("/proc/self/ns/user")
        assert all_container_ids(c) == set(kinds)
    finally:
        c.close()
    for restart in (daemon.restart, lambda: (daemon.kill(), daemon.start())):
        restart()
        c = daemon.client()
        try:
            assert all_container_ids(c) == set(kinds), daemon.read_log()
            assert c.get("ManagedCgroups") == len(kinds)
        finally:
            c.close()
        assert "Not restoring container" not in daemon.read_log()
        for p in procs.values():
            assert ksm_stat(p.pid)["ksm_merge_any"], "merging not on after the restart"
    # still watched: an exited init ends its container
    procs["user-1"].kill()
    procs["user-1"].wait()
    c = daemon.client()
    try:
        wait_for(lambda: all_container_ids(c) == {"root-1", "userns-1"}, 10, what="user-1 unregistered")
    finally:
        c.close()


def test_sigkill_while_registering_loses_no_acknowledged_registration(daemon, cgroup):
    cgs = [cgroup() for _ in range(8)]
    procs = [cg.spawn_memfill(same=4, unique=1, merge=True) for cg in cgs]
    acked, stop = [], threading.Event()
    errors = []

    def stream():
        c = daemon.client()
        i = 0
        try:
            while not stop.is_set():
                cid = f"crash-{i}"
                try:
                    c.register(cid, procs[i % len(procs)].pid, {"merge-budget.pagemeld.io": f"{i + 1}Mi"})
                except Exception as e:  # the daemon died under us: expected
                    errors.append(e)
                    return
                acked.append(cid)
                i += 1
        finally:
            c.close()

    t = threading.Thread(target=stream)
    t.start()
    wait_for(lambda: len(acked) >= 50, 30, what="50 acknowledged registrations")
    daemon.kill()
    # The stream goes on until a call hits the dead daemon (stopping it here
    # raced with a call answered just before the kill).
    t.join(30)
    stop.set()
    assert errors, "the stream should have hit the dead daemon"
    assert len(acked) >= 50

    daemon.start()
    c = daemon.client()
    try:
        got = all_container_ids(c)
        missing = [cid for cid in acked if cid not in got]
        assert not missing, f"{len(missing)} acknowledged registrations lost: {missing[:5]}"
        assert c.get("ManagedCgroups") == len(cgs)
        # annotations (the budget) came back too: the last registration per cgroup wins
        rows = {str(r[1]): int(r[7]) for r in c.list_cgroups()}
        assert all(v >= 1 << 20 for v in rows.values())
    finally:
        c.close()


def snapshot_ids(daemon):
    """The container ids in the state file (the snapshot), None without one."""
    try:
        with open(os.path.join(daemon.state_dir, "registrations.json")) as f:
            return {c["id"] for c in json.load(f)["containers"]}
    except FileNotFoundError:
        return None


def registry(c):
    """{container id: (cgroup path, merge budget, state)} as pagemeldd tells."""
    rows = {str(r[0]): (str(r[1]), int(r[7]), str(r[8])) for r in c.list_cgroups()}
    got = {}
    for obj, row in rows.items():
        for ctr in c.cgroup_props(obj)["Containers"]:
            got[str(ctr[0])] = row
    return got


def test_sigkill_before_the_snapshot_keeps_exactly_what_was_acknowledged(daemon, cgroup):
    """Registrations and unregistrations are saved in their markers; the
    state file follows later. Killed in between, pagemeldd restores exactly
    the acknowledged registry: the containers, their cgroups, the budgets
    and states, the markers reconciled with the older snapshot."""
    names = ["a", "b", "c", "d", "e"]
    cgs = {n: cgroup(n) for n in names}
    procs = {n: cgs[n].spawn(["sleep", "600"]) for n in names}
    b2 = cgs["b"].spawn(["sleep", "600"])
    c2 = cgs["c"].spawn(["sleep", "600"])
    m = daemon.client()
    try:
        m.register("a1", procs["a"].pid, {"merge-budget.pagemeld.io": "1Gi"})
        m.register("b1", procs["b"].pid)
        m.register("c1", procs["c"].pid)
        m.register("d1", procs["d"].pid, {"merge-budget.pagemeld.io": "8Mi"})
        # a cgroup's own state is written at once
        m.manager.DisableCgroup(cgs["b"].path)
        m.manager.SetBudget(cgs["c"].path, 64 << 20, (1 << 64) - 1)
        assert snapshot_ids(daemon) == {"a1", "b1", "c1", "d1"}

        # the burst, well inside the snapshot's delay (one second)
        m.unregister("a1")                                      # its cgroup goes
        m.unregister("b1")                                      # the disabled cgroup goes...
        m.register("b2", b2.pid)                                # ...and comes back, new: merging
        m.register("c2", c2.pid, {"merge-budget.pagemeld.io": "2Mi"})  # a later budget
        m.register("d1", procs["d"].pid, {"merge-budget.pagemeld.io": "3Mi"})  # registered again
        m.register("e1", procs["e"].pid)                        # a new cgroup
        acked = registry(m)
        stale = snapshot_ids(daemon)
    finally:
        m.close()
    daemon.kill()
    # the kill came before the snapshot: only the markers held the burst
    assert stale == {"a1", "b1", "c1", "d1"}, "the snapshot was written inside its delay"
    unset = (1 << 64) - 1
    assert {cid: row[:2] for cid, row in acked.items()} == {
        "b2": (cgs["b"].path, unset),
        "c1": (cgs["c"].path, 2 << 20),
        "c2": (cgs["c"].path, 2 << 20),
        "d1": (cgs["d"].path, 3 << 20),
        "e1": (cgs["e"].path, unset),
    }
    # "merging", or "unsupported" where the v2 memory controller is absent
    assert "disabled" not in {row[2] for row in acked.values()}

    daemon.start()
    m = daemon.client()
    try:
        assert registry(m) == acked, daemon.read_log()
        assert markers(daemon) == set(acked)
        assert snapshot_ids(daemon) == set(acked)  # whole again
        m.sweep()
        for p in (b2, c2, procs["d"], procs["e"]):
            assert ksm_stat(p.pid)["ksm_merge_any"] is True
    finally:
        m.close()


def test_snapshot_follows_registrations_and_is_written_at_exit(daemon, cgroup):
    """The state file catches up within its delay without further calls, and
    a clean exit writes it at once."""
    pa, pb = cgroup("x").spawn(["sleep", "600"]), cgroup("y").spawn(["sleep", "600"])
    m = daemon.client()
    try:
        m.register("x1", pa.pid)
        wait_for(lambda: snapshot_ids(daemon) == {"x1"}, 5, what="the snapshot to hold x1")
        m.register("y1", pb.pid)
        m.unregister("x1")
    finally:
        m.close()
    assert daemon.stop() == 0
    assert snapshot_ids(daemon) == {"y1"}


def test_restart_drops_gone_cgroups_and_reapplies_merging(daemon, cgroup):
    keep, gone = cgroup("keep"), cgroup("gone")
    pk = keep.spawn_memfill(merge=True)
    pg = gone.spawn_memfill(merge=True)
    c = daemon.client()
    c.register("keep-1", pk.pid)
    c.register("gone-1", pg.pid)
    c.close()
    assert daemon.stop() == 0
    gone.remove()
    # a process that entered while the daemon was down, without merging
    late = keep.spawn_memfill(merge=False)
    assert not ksm_stat(late.pid)["ksm_merge_any"]
    daemon.start()
    c = daemon.client()
    try:
        assert all_container_ids(c) == {"keep-1"}
        assert ksm_stat(late.pid)["ksm_merge_any"], "merging not re-applied after restart"
        assert "cgroup " + gone.path + " is gone" in daemon.read_log()
    finally:
        c.close()


def markers(daemon):
    """The registration markers pagemeldd keeps for the poststop hook."""
    return set(os.listdir(os.path.join(daemon.state_dir, "containers")))


def test_container_ends_with_its_init(daemon, cgroup):
    """pagemeldd watches each container's init through its pidfd: when it
    exits, the container is unregistered (and its marker removed) without
    waiting for poststop or a sweep."""
    a, b = cgroup("a"), cgroup("b")
    pa, pb = a.spawn_memfill(same=4, unique=1), b.spawn_memfill(same=4, unique=1)
    c = daemon.client()
    try:
        c.register("a-1", pa.pid)
        c.register("b-1", pb.pid)
        assert markers(daemon) == {"a-1", "b-1"}
        pa.kill()
        pa.wait()
        wait_for(lambda: all_container_ids(c) == {"b-1"}, 10, what="a-1 unregistered when its init exited")
        assert markers(daemon) == {"b-1"}
        assert c.get("ManagedCgroups") == 1
        assert f"Container a-1: its init (pid {pa.pid}) exited" in daemon.read_log()
        # the unregistration was saved: a restart does not bring it back
        c.unregister("b-1")
        assert markers(daemon) == set()
    finally:
        c.close()


def test_restart_watches_live_inits_and_forgets_exited_ones(daemon, cgroup):
    live, dead = cgroup("live"), cgroup("dead")
    pl, pd = live.spawn_memfill(same=4, unique=1), dead.spawn_memfill(same=4, unique=1)
    c = daemon.client()
    c.register("live-1", pl.pid)
    c.register("dead-1", pd.pid)
    c.close()
    assert daemon.stop() == 0
    # while pagemeldd is down: one init exits (its cgroup stays), and a
    # marker that names nothing registered is left behind
    pd.kill()
    pd.wait()
    open(os.path.join(daemon.state_dir, "containers", "stale"), "w").close()
    daemon.start()
    c = daemon.client()
    try:
        assert all_container_ids(c) == {"live-1"}
        assert f"Not restoring container dead-1: its init (pid {pd.pid}) has exited" in daemon.read_log()
        assert markers(daemon) == {"live-1"}
        # the restored container's init is watched again
        pl.kill()
        pl.wait()
        wait_for(lambda: all_container_ids(c) == set(), 10, what="live-1 unregistered after the restart")
        assert markers(daemon) == set()
    finally:
        c.close()


def test_sweep_enables_late_processes_on_timer(bus, cgroup):
    d = Daemon(bus, config=DEFAULT_DAEMON_CONFIG.replace("SweepIntervalSec=3600", "SweepIntervalSec=1"))
    try:
        d.start()
        cg = cgroup()
        p = cg.spawn_memfill(merge=False)
        c = d.client()
        obj = c.register("timer-1", p.pid)
        assert ksm_stat(p.pid)["ksm_merge_any"], "RegisterContainer must enable merging"
        assert c.cgroup_props(obj)["Processes"] == 1
        late = cg.spawn_memfill(merge=False)  # like `runc exec`
        wait_for(lambda: ksm_stat(late.pid)["ksm_merge_any"], 10, what="the timer sweep to enable merging")
        wait_for(lambda: c.cgroup_props(obj)["Processes"] == 2, 10, what="Processes == 2")
        assert c.get("Sweeps") >= 1
        assert c.get("SweepIntervalUSec") == 1000000
        c.close()
    finally:
        d.cleanup()


def test_sweep_on_demand_drops_gone_cgroup_with_signal(daemon, cgroup):
    rec = SignalRecorder(daemon.bus_address)
    try:
        cg = cgroup()
        p = cg.spawn_memfill(merge=True)
        c = daemon.client()
        obj = c.register("drop-1", p.pid)
        rec.wait("CgroupAdded", pred=lambda s: s[3] == [obj])
        cg.remove()
        c.sweep()
        rec.wait("CgroupRemoved", pred=lambda s: s[3] == [obj])
        assert c.get("ManagedCgroups") == 0
        assert c.list_cgroups() == []
        c.close()
    finally:
        rec.close()


def test_figures_and_properties_changed_after_merging(ksm, daemon, cgroup):
    rec = SignalRecorder(daemon.bus_address)
    try:
        cg = cgroup()
        a = cg.spawn_memfill(same=512, unique=32, merge=False)
        b = cg.spawn_memfill(same=512, unique=32, merge=False)
        c = daemon.client()
        obj = c.register("fig-1", a.pid)
        ksm_fast_scan()
        wait_for(lambda: ksm_stat(a.pid)["ksm_merging_pages"] + ksm_stat(b.pid)["ksm_merging_pages"] >= 900, 60,
                 what="memfill pages merged")
        c.sweep()
        props = c.cgroup_props(obj)
        want = sum(ksm_stat(p.pid)["ksm_merging_pages"] for p in (a, b))
        assert props["Processes"] == 2
        assert abs(props["MergingPages"] - want) <= 16
        assert props["MergeDebt"] == (props["MergingPages"] + props["ZeroPages"]) * os.sysconf("SC_PAGE_SIZE")
        assert props["RmapItems"] > 0
        rec.wait("PropertiesChanged", pred=lambda s: s[2] == obj and "MergingPages" in s[3][1])
        row = [r for r in c.list_cgroups() if str(r[0]) == obj][0]
        assert int(row[2]) == props["MergingPages"] and int(row[6]) == props["MergeDebt"]
        g = c.get_all()
        assert g["PagesSharing"] > 0 and g["KsmRun"] == "running"
        c.close()
    finally:
        rec.close()


def test_start_ksm_on_first_registration(ksm, bus, cgroup):
    from conftest import write_knob, read_knob
    write_knob("run", 0)
    d = Daemon(bus, config=DEFAULT_DAEMON_CONFIG.replace("StartKsm=no", "StartKsm=yes"))
    try:
        d.start()
        assert read_knob("run") == "0"  # nothing registered yet
        cg = cgroup()
        p = cg.spawn_memfill(merge=True)
        c = d.client()
        c.register("start-1", p.pid)
        assert read_knob("run") == "1"
        assert c.get("KsmRun") == "running"
        c.close()
    finally:
        d.cleanup()


def test_tunables_written_and_kernel_errors_mapped(ksm, daemon):
    from conftest import read_knob, MANAGER_PATH, MANAGER_IFACE
    m = ["io.pagemeld1", MANAGER_PATH, MANAGER_IFACE]
    if os.path.exists("/sys/kernel/mm/ksm/advisor_mode"):
        daemon.busctl("set-property", *m, "AdvisorMode", "s", "none")
    daemon.busctl("set-property", *m, "PagesToScan", "t", "321")
    assert read_knob("pages_to_scan") == "321"
    daemon.busctl("set-property", *m, "SleepMillisecs", "t", "77")
    assert read_knob("sleep_millisecs") == "77"
    if os.path.exists("/sys/kernel/mm/ksm/smart_scan"):
        daemon.busctl("set-property", *m, "SmartScan", "b", "false")
        assert read_knob("smart_scan") == "0"
        daemon.busctl("set-property", *m, "SmartScan", "b", "true")
        assert read_knob("smart_scan") == "1"
    r = daemon.busctl("get-property", *m, "PagesToScan")
    assert r.stdout.strip() == "t 321"
    # our own validation
    r = daemon.busctl("set-property", *m, "MaxPageSharing", "t", "1", check=False)
    assert r.returncode != 0 and "at least 2" in r.stderr
    r = daemon.busctl("set-property", *m, "AdvisorMode", "s", "fastest", check=False)
    assert r.returncode != 0 and "none or scan-time" in r.stderr
    # the kernel's refusal, with its reason: pages_to_scan is the advisor's
    if os.path.exists("/sys/kernel/mm/ksm/advisor_mode"):
        daemon.busctl("set-property", *m, "AdvisorMode", "s", "scan-time")
        r = daemon.busctl("set-property", *m, "PagesToScan", "t", "100", check=False)
        assert r.returncode != 0 and "kernel refused pages_to_scan=100" in r.stderr, r.stderr
        assert "Invalid argument" in r.stderr
        daemon.busctl("set-property", *m, "AdvisorMode", "s", "none")
    assert daemon.alive()


def test_max_page_sharing_busy_while_shared(ksm, daemon, cgroup):
    from conftest import ksm_counter, MANAGER_PATH, MANAGER_IFACE
    cg = cgroup()
    a = cg.spawn_memfill(same=256, unique=8, merge=True)
    b = cg.spawn_memfill(same=256, unique=8, merge=True)
    ksm_fast_scan()
    wait_for(lambda: ksm_stat(a.pid)["ksm_merging_pages"] >= 200 and ksm_stat(b.pid)["ksm_merging_pages"] >= 200,
             60, what="memfill pages merged")
    cur = int(open("/sys/kernel/mm/ksm/max_page_sharing").read())
    shared = ksm_counter("pages_shared")
    r = daemon.busctl("set-property", "io.pagemeld1", MANAGER_PATH, MANAGER_IFACE, "MaxPageSharing", "t",
                      str(cur + 1), check=False)
    assert shared > 0
    assert r.returncode != 0, f"the kernel took max_page_sharing={cur + 1} with pages_shared={shared}"
    assert "Device or resource busy" in r.stderr and "no pages are shared" in r.stderr, r.stderr
    assert int(open("/sys/kernel/mm/ksm/max_page_sharing").read()) == cur


def test_sighup_reload_keeps_old_config_when_invalid(daemon, manager):
    assert manager.get("SweepIntervalUSec") == 3600 * 1000000
    daemon.write_config("[Daemon]\nSweepIntervalSec=0\n")
    daemon.reload()
    assert daemon.alive()
    assert manager.get("SweepIntervalUSec") == 3600 * 1000000
    assert "keeping the running configuration" in daemon.read_log()
    assert "SweepIntervalSec=0" in daemon.read_log()
    daemon.write_config("[Daemon]\nSweepIntervalSec=7\nStartKsm=no\n")
    daemon.reload()
    assert manager.get("SweepIntervalUSec") == 7 * 1000000
    assert "RELOADING=1" in daemon.messages


def test_invalid_config_at_start_exits_1(bus):
    d = Daemon(bus, config="[Daemon]\nSweepIntervalSec=5\nLogLevel=chatty\n")
    try:
        code, log = d.start_expecting_exit()
        assert code == 1
        assert "Invalid configuration" in log and "LogLevel" in log
    finally:
        d.cleanup()


def test_second_daemon_cannot_take_the_name(daemon):
    d2 = Daemon(daemon.bus)
    try:
        code, log = d2.start_expecting_exit()
        assert code == 1
        assert "Cannot own io.pagemeld1" in log
    finally:
        d2.cleanup()
    assert daemon.alive()


def test_seccomp_refuses_outside_syscalls():
    r = subprocess.run(as_unit([build_path("daemon", "pagemeldd"), "--seccomp-test"]), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    for bad in ("execve", "socket", "mount", "unshare"):
        assert f"{bad} refused with EPERM" in r.stderr
    for good in ("pidfd_open", "process_vm_readv", "waitid", "ptrace"):
        assert f"{good} allowed" in r.stderr


def test_watchdog_pings_when_asked(bus):
    d = Daemon(bus)
    try:
        d.start(WATCHDOG_USEC="400000")
        d.messages = [m for m in d.messages if m != "WATCHDOG=1"]
        d.wait_notify("WATCHDOG=1", 5)
        # and not without WATCHDOG_USEC
        d.stop()
        d.start()
        time.sleep(1)
        d.poll_notify()
        assert "WATCHDOG=1" not in d.messages
    finally:
        d.cleanup()


def test_logs_carry_sd_daemon_priority_prefixes(daemon):
    daemon.stop()
    lines = [l for l in daemon.read_log().splitlines() if l]
    assert lines
    assert all(re.match(r"^<[0-7]>", l) for l in lines), lines[:5]
    assert any(l.startswith("<6>") and "ready" in l for l in lines)
