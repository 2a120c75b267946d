# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeldd on a private system bus: the contract, access control, the
registration path and its bad inputs."""
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import CGROUP_IFACE, MANAGER_IFACE, MANAGER_PATH, NOBODY, SRC, build_path, dbus_error_name

EMITS = "org.freedesktop.DBus.Property.EmitsChangedSignal"


def members(xml_text, iface):
    """{(kind, name): signature-ish} of one interface, whitespace/order-free."""
    root = ET.fromstring(xml_text)
    found = [i for i in root.iter("interface") if i.get("name") == iface]
    assert len(found) == 1, f"{iface} not found exactly once"
    out = {}
    for el in found[0]:
        kind, name = el.tag, el.get("name")
        if kind == "property":
            emits = [a.get("value") for a in el.findall("annotation") if a.get("name") == EMITS]
            out[(kind, name)] = (el.get("type"), el.get("access"), emits[0] if emits else "true")
        elif kind == "method":
            out[(kind, name)] = tuple((a.get("direction", "in"), a.get("type"), a.get("name"))
                                      for a in el.findall("arg"))
        elif kind == "signal":
            out[(kind, name)] = tuple((a.get("type"), a.get("name")) for a in el.findall("arg"))
    return out


def contract(iface):
    return members((SRC / "api" / f"{iface}.xml").read_text(), iface)


def test_bus_introspect_matches_contract():
    xml = subprocess.run([build_path("daemon", "pagemeldd"), "--bus-introspect"], check=True,
                         capture_output=True, text=True).stdout
    for iface in (MANAGER_IFACE, CGROUP_IFACE):
        assert members(xml, iface) == contract(iface)


def test_running_daemon_matches_contract(daemon, manager, cgroup):
    xml = daemon.busctl("introspect", "--xml-interface", "io.pagemeld1", MANAGER_PATH).stdout
    assert members(xml, MANAGER_IFACE) == contract(MANAGER_IFACE)
    cg = cgroup()
    p = cg.spawn_memfill(merge=True)
    obj = manager.register("c-introspect", p.pid)
    xml = daemon.busctl("introspect", "--xml-interface", "io.pagemeld1", obj).stdout
    assert members(xml, CGROUP_IFACE) == contract(CGROUP_IFACE)


def test_contract_matches_design_signatures():
    m = contract(MANAGER_IFACE)
    assert m[("method", "RegisterContainer")] == (("in", "s", "id"), ("in", "h", "pidfd"),
                                                  ("in", "a{ss}", "annotations"), ("out", "o", "cgroup"))
    assert m[("method", "ListCgroups")] == (("out", "a(ostttxttssss)", "cgroups"),)
    assert m[("method", "SetBudget")][0][1:] == ("s", "cgroup")
    assert [a[0] for a in m[("signal", "BudgetExceeded")]] == ["o", "t", "t"]
    assert [a[0] for a in m[("signal", "UnmergeFinished")]] == ["b", "s"]
    for p, t in [("KernelFeatures", "as"), ("KsmRun", "s"), ("GeneralProfit", "x"), ("ManagedCgroups", "u"),
                 ("TrustDomain", "s")]:
        assert m[("property", p)][0] == t
    for p in ["PagesToScan", "SleepMillisecs", "AdvisorMode", "MaxPageSharing", "UseZeroPages", "SmartScan"]:
        assert m[("property", p)][1] == "readwrite"
    c = contract(CGROUP_IFACE)
    for p, t in [("Path", "s"), ("Containers", "a(ss)"), ("PodNamespace", "s"), ("PodName", "s"), ("PodUID", "s"), ("Processes", "u"), ("Profit", "x"), ("State", "s"),
                 ("MergeDebt", "t"), ("SwapBudget", "t")]:
        assert c[("property", p)][0] == t


def test_ready_and_status_notified(daemon):
    assert "READY=1" in daemon.messages
    assert any(m.startswith("STATUS=") for m in daemon.messages)
    assert daemon.stop() == 0
    assert "STOPPING=1" in daemon.messages


def test_manager_properties(daemon, manager):
    props = manager.get_all()
    assert props["Version"]
    assert "ksm" in props["KernelFeatures"]
    assert props["KsmRun"] in ("stopped", "running", "unmerging")
    ksm = "/sys/kernel/mm/ksm/"
    assert props["PagesToScan"] == int(open(ksm + "pages_to_scan").read())
    assert props["MaxPageSharing"] == int(open(ksm + "max_page_sharing").read())
    assert props["ManagedCgroups"] == 0
    for k in ["PagesShared", "PagesSharing", "PagesUnshared", "PagesVolatile", "PagesSkipped", "FullScans",
              "KsmZeroPages", "GeneralProfit", "TrustDomain", "SleepMillisecs", "AdvisorMode", "UseZeroPages",
              "SmartScan"]:
        assert k in props
    # seccomp is in force in the daemon the tests talk to
    status = open(f"/proc/{daemon.pid}/status").read()
    assert re.search(r"^Seccomp:\s+2$", status, re.M)


def test_register_memfill_and_unregister(daemon, manager, cgroup):
    cg = cgroup()
    p = cg.spawn_memfill(merge=True)
    obj = manager.register("c1", p.pid, {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "64Mi",
                                         "trust-domain.pagemeld.io": "tenant-a", "example.com/other": "x"})
    assert obj.startswith("/io/pagemeld1/cgroup/")
    props = manager.cgroup_props(obj)
    assert props["Path"] == cg.path
    assert [tuple(map(str, c)) for c in props["Containers"]] == [("c1", "")]
    assert (props["PodNamespace"], props["PodName"], props["PodUID"]) == ("", "", "")
    assert props["TrustDomain"] == "Host/tenant-a"  # no namespace: NoNamespaceDomain, narrowed
    assert props["MergeBudget"] == 64 << 20
    assert props["Processes"] == 1
    # Without the v2 memory controller (this host's hybrid
    # hierarchy) headroom and swap budgets cannot work: State says so
    want = "merging" if (cg.dir / "memory.current").exists() else "unsupported"
    assert props["State"] == want
    assert manager.get("ManagedCgroups") == 1
    rows = manager.list_cgroups()
    assert [tuple(map(str, (r[0], r[1], r[8], r[9], r[10], r[11]))) for r in rows] == [(obj, cg.path, want, "", "", "")]
    # idempotent
    assert manager.register("c1", p.pid, {"merge.pagemeld.io": "true"}) == obj
    assert manager.get("ManagedContainers") == 1
    manager.unregister("c1")
    assert manager.get("ManagedCgroups") == 0
    assert manager.list_cgroups() == []
    assert daemon.alive()


def test_bad_inputs_each_get_their_error(daemon, manager, cgroup):
    import dbus
    cg = cgroup()
    p = cg.spawn_memfill(merge=True)

    with pytest.raises(dbus.exceptions.DBusException) as e:
        manager.unregister("no-such-id")
    assert dbus_error_name(e) == "io.pagemeld1.Error.NoSuchContainer"

    # an fd that is not a pidfd
    fd = os.open("/dev/null", os.O_RDONLY)
    try:
        with pytest.raises(dbus.exceptions.DBusException) as e:
            manager.register("c-bad-fd", annotations={}, pidfd=fd)
        assert dbus_error_name(e) == "org.freedesktop.DBus.Error.InvalidArgs"
        assert "pidfd" in str(e.value)
    finally:
        os.close(fd)

    # a dead process's pidfd
    dead = subprocess.Popen(["true"])
    fd = os.pidfd_open(dead.pid)
    dead.wait()
    try:
        with pytest.raises(dbus.exceptions.DBusException) as e:
            manager.register("c-dead", pidfd=fd)
        assert dbus_error_name(e) == "io.pagemeld1.Error.ProcessGone"
    finally:
        os.close(fd)

    # PID 1 and the daemon itself
    for pid in (1, daemon.pid):
        with pytest.raises(dbus.exceptions.DBusException) as e:
            manager.register("c-forbidden", pid)
        assert dbus_error_name(e) == "io.pagemeld1.Error.ForbiddenProcess"

    # malformed annotations: the error names the key
    for key, value in [("merge.pagemeld.io", "yes"), ("merge-budget.pagemeld.io", "12 Mi"),
                       ("swap-budget.pagemeld.io", "-1"), ("trust-domain.pagemeld.io", "a b"),
                       ("mrege.pagemeld.io", "true"), ("merge.pagemeld.io/Bad_Name", "true")]:
        with pytest.raises(dbus.exceptions.DBusException) as e:
            manager.register("c-ann", p.pid, {key: value})
        assert dbus_error_name(e) == "io.pagemeld1.Error.InvalidAnnotation", key
        assert key in str(e.value)

    # opted out, and the sandbox
    for ann in ({"merge.pagemeld.io": "false"},
                {"merge.pagemeld.io": "true", "io.kubernetes.cri-o.ContainerType": "sandbox"},
                {"merge.pagemeld.io": "true", "merge.pagemeld.io/app": "false",
                 "io.kubernetes.container.name": "app"}):
        with pytest.raises(dbus.exceptions.DBusException) as e:
            manager.register("c-out", p.pid, ann)
        assert dbus_error_name(e) == "io.pagemeld1.Error.NotOptedIn"

    # tests/integration/test_budgets.py: a swap budget needs the v2
    # memory controller, which this host's hybrid hierarchy lacks
    obj = manager.register("c-ok", p.pid)
    if not (cg.dir / "memory.current").exists():
        with pytest.raises(dbus.exceptions.DBusException) as e:
            manager.manager.SetBudget(cg.path, 1, 1)
        assert dbus_error_name(e) == "io.pagemeld1.Error.NoMemoryController"
    with pytest.raises(dbus.exceptions.DBusException) as e:
        manager.manager.EnableCgroup("/not/managed")
    assert dbus_error_name(e) == "io.pagemeld1.Error.NoSuchCgroup"
    manager.manager.EnableCgroup(cg.path)

    # still serving, registry intact
    assert daemon.alive()
    assert [str(r[0]) for r in manager.list_cgroups()] == [obj]


def test_unprivileged_reads_totals_writes_denied(daemon, manager, cgroup):
    """Everyone reads the machine-wide totals; per-cgroup data is for root
    and the reader group (tests/hostile/test_reader_flood.py has the rest)."""
    cg = cgroup()
    p = cg.spawn_memfill(merge=True)
    obj = manager.register("c-ro", p.pid)
    m = ["io.pagemeld1", MANAGER_PATH, MANAGER_IFACE]
    r = daemon.busctl("get-property", *m, "ManagedCgroups", uid=NOBODY)
    assert r.stdout.strip() == "u 1"
    daemon.busctl("introspect", "io.pagemeld1", MANAGER_PATH, uid=NOBODY)
    daemon.busctl("call", "io.pagemeld1", MANAGER_PATH, "org.freedesktop.DBus.Peer", "Ping", uid=NOBODY)
    # a dashboard's GetAll
    r = daemon.busctl("call", "io.pagemeld1", MANAGER_PATH, "org.freedesktop.DBus.Properties", "GetAll", "s",
                      MANAGER_IFACE, uid=NOBODY)
    assert "PagesSharing" in r.stdout
    for args in (["call", *m, "ListCgroups"], ["get-property", "io.pagemeld1", obj, CGROUP_IFACE, "Path"]):
        r = daemon.busctl(*args, uid=NOBODY, check=False)
        assert r.returncode != 0 and "denied" in r.stderr.lower(), r.stderr
        assert cg.path not in r.stdout

    for args in (["call", *m, "UnregisterContainer", "s", "c-ro"], ["call", *m, "Sweep"],
                 ["call", *m, "UnmergeAll", "b", "true"], ["call", *m, "EnableCgroup", "s", cg.path],
                 ["set-property", *m, "PagesToScan", "t", "100"]):
        r = daemon.busctl(*args, uid=NOBODY, check=False)
        assert r.returncode != 0
        assert "denied" in r.stderr.lower() or "AccessDenied" in r.stderr, r.stderr
    # nothing changed; root still can
    assert manager.get("ManagedContainers") == 1
    daemon.busctl("call", *m, "Sweep")
    assert daemon.alive()


def test_daemon_checks_uid_itself_on_a_permissive_bus(permissive_bus, cgroup):
    from conftest import Daemon
    d = Daemon(permissive_bus)
    try:
        d.start()
        m = ["io.pagemeld1", MANAGER_PATH, MANAGER_IFACE]
        for args in (["call", *m, "UnregisterContainer", "s", "x"], ["call", *m, "Sweep"],
                     ["call", *m, "SetBudget", "stt", "/x", "1", "1"],
                     ["set-property", *m, "PagesToScan", "t", "100"],
                     ["set-property", *m, "AdvisorMode", "s", "none"]):
            r = d.busctl(*args, uid=NOBODY, check=False)
            assert r.returncode != 0
            assert "Only root may" in r.stderr, r.stderr
        r = d.busctl("call", *m, "ListCgroups", uid=NOBODY, check=False)
        assert r.returncode != 0 and "Only root or members of group pagemeld may call ListCgroups" in r.stderr
        assert "Refused" in d.read_log()
    finally:
        d.cleanup()
