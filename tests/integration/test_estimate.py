# SPDX-License-Identifier: LGPL-2.1-or-later
"""Estimate through pagemeldd (conftest fixtures `bus`, `daemon`, `manager`,
`cgroup`): two memfill cgroups against their known duplicate counts, the
signals going to the caller only, cancel, the SCHED_IDLE worker, the event
loop answering during a long estimate, who may call it and what a non-root
caller sees, EstimatedSavings, and pagemeldctl estimate (table, --json,
--candidates, --namespace)."""
import json
import math
import os
import time

import pytest

from conftest import (DEFAULT_DAEMON_CONFIG, MANAGER_IFACE, MANAGER_PATH, NOBODY, PAGEMELD_BUS_NAME,
                      Daemon, SignalRecorder, build_path, read_knob, wait_for)
from test_ctl import ctl

SLACK = 32  # pages per memfill process of its own (stack, heap, data)


def known_counts(same_a, same_b):
    """dup pages within A, within B and of the union when every "same" page
    of memfill holds one content (KSM keeps max_page_sharing per KSM page)."""
    mps = int(read_knob("max_page_sharing")) or 1 << 62

    def saved(n):
        return n - math.ceil(n / mps)
    return saved(same_a), saved(same_b), saved(same_a + same_b)


def near(got, want, slack):
    return abs(int(got) - int(want)) <= slack


def estimate_call(rec, paths):
    """Estimate on the recorder's own connection: the signals come to it."""
    import dbus
    obj = rec.conn.get_object(PAGEMELD_BUS_NAME, MANAGER_PATH)
    return int(obj.Estimate(dbus.Array(paths, signature="s"), dbus_interface=MANAGER_IFACE))


def finished(rec, job, timeout=120):
    s = rec.wait("EstimateFinished", timeout=timeout, pred=lambda s: s.args[0] == job)[0]
    job, error, totals, groups = s.args
    return error, totals, {path: figures for path, figures in groups}


def two_memfill_cgroups(cgroup, same_a=2048, same_b=1024):
    a, b = cgroup("est-a"), cgroup("est-b")
    a.spawn_memfill(same=same_a, unique=256, sleep=0)
    b.spawn_memfill(same=same_b, unique=128, sleep=0)
    return a, b


def test_estimate_two_cgroups_against_known_counts(daemon, manager, cgroup):
    a, b = two_memfill_cgroups(cgroup)
    want_a, want_b, want_all = known_counts(2048, 1024)
    rec, other = SignalRecorder(daemon.bus_address), SignalRecorder(daemon.bus_address)
    try:
        job = estimate_call(rec, [a.path, b.path])
        error, totals, groups = finished(rec, job)
        assert error == ""
        ga, gb = groups[a.path], groups[b.path]
        assert near(ga["pages_scanned"], 2048 + 256, SLACK) and near(gb["pages_scanned"], 1024 + 128, SLACK)
        assert near(ga["dup_within_pages"], want_a, SLACK), (ga, want_a)
        assert near(gb["dup_within_pages"], want_b, SLACK), (gb, want_b)
        assert near(totals["dup_pages"], want_all, 2 * SLACK), (totals, want_all)
        assert near(totals["dup_across_pages"], want_all - want_a - want_b, 2 * SLACK), totals
        # neither is managed: each one's marginal is what it saves alone
        assert ga["managed"] == 0 and gb["managed"] == 0
        assert ga["marginal_pages"] == ga["dup_within_pages"]
        assert totals["profit_bytes"] == totals["dup_pages"] * totals["page_size"] - totals["pages_scanned"] * 64
        assert ga["within_profit_bytes"] == ga["dup_within_pages"] * totals["page_size"] - ga["pages_scanned"] * 64
        # per-cgroup figures went to the caller alone
        time.sleep(0.2)
        assert not other.named("EstimateFinished")
    finally:
        rec.close()
        other.close()


SLOW_CONFIG = DEFAULT_DAEMON_CONFIG + "[Estimate]\nRateMiBps=8\n"


def estimate_child(daemon_pid):
    kids = open(f"/proc/{daemon_pid}/task/{daemon_pid}/children").read().split()
    return [int(k) for k in kids if open(f"/proc/{k}/comm").read().strip() == "pagemeld-estim"]


def test_cancel_sched_idle_and_loop_responsive(bus, cgroup):
    d = Daemon(bus, config=SLOW_CONFIG)
    a = cgroup("est-slow")
    a.spawn_memfill(same=8192, unique=0, sleep=0)  # 32 MiB: 4 s at 8 MiB/s
    rec = None
    try:
        d.start()
        m = d.client()
        rec = SignalRecorder(d.bus_address)
        job = estimate_call(rec, [a.path])
        child = wait_for(lambda: estimate_child(d.pid), 5, what="the estimating child")[0]
        assert os.sched_getscheduler(child) == os.SCHED_IDLE
        worst = 0.0
        for _ in range(20):
            t = time.monotonic()
            m.get("PagesSharing")
            worst = max(worst, time.monotonic() - t)
            time.sleep(0.05)
        assert worst < 0.1, f"a Get took {worst * 1000:.0f} ms during an estimate"
        rec.wait("EstimateProgress", timeout=10, pred=lambda s: s.args[0] == job and s.args[1] > 0)
        assert not rec.named("EstimateFinished"), "the rate limit did not hold the estimate back"
        m.manager.CancelEstimate(job)
        error, totals, groups = finished(rec, job, timeout=5)
        assert error == "cancelled" and groups == {}
        wait_for(lambda: not estimate_child(d.pid), 5, what="the child gone")
        # a finished job is unknown
        with pytest.raises(Exception) as e:
            m.manager.CancelEstimate(job)
        assert "No running estimate" in str(e.value)
        m.close()
    finally:
        if rec:
            rec.close()
        d.cleanup()


def test_caller_gone_cancels(bus, cgroup):
    """An estimate whose caller left the bus is cancelled (its child gone)."""
    import signal
    import subprocess
    d = Daemon(bus, config=SLOW_CONFIG)
    a = cgroup("est-gone")
    a.spawn_memfill(same=8192, unique=0, sleep=0)
    try:
        d.start()
        p = subprocess.Popen([str(build_path("api", "pagemeldctl")), "estimate", a.path],
                             env=bus.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: estimate_child(d.pid), 10, what="the estimating child")
        p.send_signal(signal.SIGKILL)
        p.wait()
        wait_for(lambda: not estimate_child(d.pid), 5, what="the child gone with its caller")
        assert "its caller left the bus, cancelling" in d.read_log()
    finally:
        d.cleanup()


def test_refused_without_root_or_the_reader_group(daemon, cgroup):
    a = cgroup("est-refused")
    a.spawn_memfill(same=16, unique=16, sleep=0)
    m = [PAGEMELD_BUS_NAME, MANAGER_PATH, MANAGER_IFACE]
    r = daemon.busctl("call", *m, "Estimate", "as", "1", a.path, uid=NOBODY, check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr or "denied" in r.stderr.lower(), r.stderr
    r = daemon.busctl("call", *m, "CancelEstimate", "t", "1", uid=NOBODY, check=False)
    assert r.returncode != 0


def test_daemon_checks_the_group_itself(permissive_bus, cgroup):
    """On a bus that lets everyone through: nobody (gid nogroup) is refused
    with the default ReaderGroup and let in with ReaderGroup=nogroup, and
    then sees no figure across cgroups."""
    a, b = two_memfill_cgroups(cgroup, 512, 256)
    d = Daemon(permissive_bus)
    try:
        d.start()
        r = ctl(d.bus_address, "estimate", a.path, uid=NOBODY)
        assert r.returncode == 3, (r.returncode, r.stderr)
        assert "Refused Estimate from uid 65534" in d.read_log()
        d.write_config(DEFAULT_DAEMON_CONFIG.replace("[Daemon]\n", "[Daemon]\nReaderGroup=nogroup\n"))
        d.reload()
        time.sleep(0.5)
        r = ctl(d.bus_address, "--json", "estimate", a.path, b.path, uid=NOBODY)
        assert r.returncode == 0, (r.stderr, d.read_log())
        o = json.loads(r.stdout)
        assert "dup_pages" not in o and "dup_across_pages" not in o and "profit_bytes" not in o
        want_a, want_b, _ = known_counts(512, 256)
        got = {g["path"]: g for g in o["cgroups"]}
        assert near(got[a.path]["dup_within_pages"], want_a, SLACK)
        assert all("marginal_pages" not in g for g in o["cgroups"])
        r = ctl(d.bus_address, "--json", "estimate", a.path, b.path)
        o = json.loads(r.stdout)
        assert r.returncode == 0 and "dup_across_pages" in o and "marginal_pages" in o["cgroups"][0]
    finally:
        d.cleanup()


def test_ctl_estimate_table_json_candidates_and_savings(daemon, manager, cgroup):
    a, b = two_memfill_cgroups(cgroup)
    c = cgroup("est-managed")
    p = c.spawn_memfill(same=512, unique=16, sleep=0)
    obj = manager.register("est-managed-container", p.pid, {"merge.pagemeld.io": "true"})
    assert manager.cgroup_props(obj)["EstimatedSavings"] == 0
    want_a, want_b, want_all = known_counts(2048, 1024)

    r = ctl(daemon.bus_address, "estimate", a.path, b.path, c.path)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["CGROUP", "MANAGED", "SCANNED", "ZERO", "DUP-WITHIN", "SAVES-ALONE", "MARGINAL"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:4]}
    assert set(rows) == {a.path, b.path, c.path} and rows[c.path][1] == "yes" and rows[a.path][1] == "no"
    assert "merging all saves" in r.stdout

    r = ctl(daemon.bus_address, "--json", "estimate", a.path, b.path, c.path)
    assert r.returncode == 0, r.stderr
    o = json.loads(r.stdout)
    got = {g["path"]: g for g in o["cgroups"]}
    assert near(got[a.path]["dup_within_pages"], want_a, SLACK)
    assert near(got[b.path]["dup_within_pages"], want_b, SLACK)
    # ranked by marginal saving, biggest first
    margins = [g["marginal_profit_bytes"] for g in o["cgroups"]]
    assert margins == sorted(margins, reverse=True)
    # the managed cgroup publishes what merging within it saves
    saved = manager.cgroup_props(obj)["EstimatedSavings"]
    assert saved == max(0, got[c.path]["within_profit_bytes"]) and saved > 0
    r = ctl(daemon.bus_address, "metrics")
    assert (f'pagemeld_cgroup_estimated_savings_bytes{{cgroup="{c.path}",namespace="",pod="",container=""}} {saved}'
            in r.stdout), r.stdout
    r = ctl(daemon.bus_address, "--json", "list")
    assert json.loads(r.stdout)[0]["estimated_savings_bytes"] == saved

    # candidates: leaf cgroups with processes, not managed; ours among them
    r = ctl(daemon.bus_address, "--json", "estimate", "--candidates", timeout=600)
    assert r.returncode == 0, r.stderr
    paths = [g["path"] for g in json.loads(r.stdout)["cgroups"]]
    assert a.path in paths and b.path in paths and c.path not in paths
    assert all(not g["managed"] for g in json.loads(r.stdout)["cgroups"])


def test_ctl_estimate_namespace(daemon, manager, ws, monkeypatch):
    """--namespace: every container of the pod namespace, the managed one
    (its identity from pagemeldd) and the one not opted in (its identity
    from the runtime's state and bundle), not the pod sandbox, not another
    namespace's container."""
    from oci import Runc, memfill_args, v2_cgroup_of
    rc = Runc(ws)
    shop = {"io.container.manager": "cri-o", "io.kubernetes.cri-o.ContainerType": "container",
            "io.kubernetes.pod.namespace": "shop", "io.kubernetes.pod.name": "web-0",
            "io.kubernetes.pod.uid": "0d6c5a8e-1f2b-4c3d-9e8f-7a6b5c4d3e2f", "io.kubernetes.container.name": "app"}

    def start(name, annotations, same):
        b = rc.bundle(name, memfill_args(same=same, unique=64), annotations=annotations)
        r, pid = rc.run_detached(b)
        assert r == 0, b.output()
        return pid
    p_out = start("ns-out", shop, 1024)
    p_in = start("ns-in", {**shop, "io.kubernetes.container.name": "side"}, 512)
    start("ns-pause", {**shop, "io.kubernetes.cri-o.ContainerType": "sandbox"}, 16)
    start("ns-other", {**shop, "io.kubernetes.pod.namespace": "other"}, 16)
    manager.register("ns-in", p_in, {"merge.pagemeld.io": "true", **shop, "io.kubernetes.container.name": "side"})
    cg_out, cg_in = v2_cgroup_of(p_out), v2_cgroup_of(p_in)
    monkeypatch.setenv("PAGEMELD_RUNTIME_ROOTS", str(rc.root))

    r = ctl(daemon.bus_address, "--json", "estimate", "--namespace", "shop")
    assert r.returncode == 0, r.stderr
    got = {g["path"]: g for g in json.loads(r.stdout)["cgroups"]}
    assert set(got) == {cg_out, cg_in}, (got.keys(), cg_out, cg_in)
    assert got[cg_in]["managed"] and not got[cg_out]["managed"]
    assert got[cg_out]["pages_scanned"] >= 1024 + 64 and got[cg_in]["pages_scanned"] >= 512 + 64
    assert near(got[cg_out]["dup_within_pages"], known_counts(1024, 512)[0], SLACK)

    r = ctl(daemon.bus_address, "estimate", "--namespace", "shop")
    assert r.returncode == 0, r.stderr
    assert cg_out in r.stdout and cg_in in r.stdout
    r = ctl(daemon.bus_address, "estimate", "--namespace", "nosuch")
    assert (r.returncode, r.stdout) == (0, "No containers in namespace nosuch.\n"), r.stderr
    # without the runtimes' state, the managed container still counts
    monkeypatch.setenv("PAGEMELD_RUNTIME_ROOTS", "/nonexistent")
    r = ctl(daemon.bus_address, "--json", "estimate", "--namespace", "shop")
    assert r.returncode == 0, r.stderr
    assert [g["path"] for g in json.loads(r.stdout)["cgroups"]] == [cg_in]


def test_ctl_estimate_usage():
    for args in (["estimate"], ["estimate", "--candidates", "/x"], ["estimate", "relative/path"],
                 ["estimate", "--namespace", "shop", "/x"], ["estimate", "--namespace", "shop", "--candidates"],
                 ["estimate", "--namespace", "Not_A_Namespace"]):
        r = ctl("unix:path=/nonexistent/socket", *args)
        assert r.returncode == 1, (args, r.stderr)
