"""Pod identity: pagemeldd records the pod namespace, pod name, pod uid and
container name from the keys the runtime sets itself (lib/pod-identity.h),
whether they come through the hook binary (hook socket or D-Bus) or straight
through RegisterContainer, publishes them (Cgroup PodNamespace, PodName,
PodUID, Containers a(ss); ListCgroups) and restores them after a restart. A
key a pod wrote to imitate another runtime leaves the container nameless,
still merged when trust domains are off. The daemon here runs with
[TrustDomain] Mode=off: the tests put pods of several namespaces on one
node, which Mode=single (one domain, i.e. namespace, at a time) refuses;
that side is tests/hostile/test_trust_domain.py."""

import json
import os
import pathlib
import subprocess

import pytest

from conftest import DEFAULT_DAEMON_CONFIG, Daemon, build_path, wait_for
from oci import hook_path

CONTAINERD = {
    "io.kubernetes.cri.container-type": "container",
    "io.kubernetes.cri.sandbox-id": "a" * 64,
    "io.kubernetes.cri.sandbox-namespace": "shop",
    "io.kubernetes.cri.sandbox-name": "web-7f9c-x2",
    "io.kubernetes.cri.sandbox-uid": "0e6a5a4c-1f0e-4b7e-9d2c-3c1b2a190001",
    "io.kubernetes.cri.container-name": "nginx",
    "io.kubernetes.cri.image-name": "docker.io/library/nginx:1",
}
CRIO = {
    "io.container.manager": "cri-o",
    "io.kubernetes.cri-o.ContainerType": "container",
    "io.kubernetes.pod.namespace": "billing",
    "io.kubernetes.pod.name": "api-0",
    "io.kubernetes.pod.uid": "7d1c9a1e-0000-4f00-8000-00000000beef",
    "io.kubernetes.container.name": "worker",
}
OPT_IN = {"merge.pagemeld.io": "true"}


@pytest.fixture
def daemon(bus):
    d = Daemon(bus, config=DEFAULT_DAEMON_CONFIG + "[TrustDomain]\nMode=off\n")
    try:
        d.start()
        yield d
    finally:
        d.cleanup()


def identity(manager, obj):
    props = manager.cgroup_props(obj)
    return (str(props["PodNamespace"]), str(props["PodName"]), str(props["PodUID"]),
            [tuple(map(str, c)) for c in props["Containers"]])


def row(manager, obj):
    (r,) = [r for r in manager.list_cgroups() if str(r[0]) == obj]
    return tuple(str(x) for x in r[9:])


def spawn(cgroup, name):
    cg = cgroup(name)
    return cg, cg.spawn_memfill(merge=False)


def test_dbus_containerd_and_crio_identity_restored(daemon, manager, cgroup):
    _, p1 = spawn(cgroup, "ctrd")
    _, p2 = spawn(cgroup, "crio")
    o1 = manager.register("ctrd-1", p1.pid, {**OPT_IN, **CONTAINERD})
    o2 = manager.register("crio-1", p2.pid, {**OPT_IN, **CRIO})
    want1 = ("shop", "web-7f9c-x2", CONTAINERD["io.kubernetes.cri.sandbox-uid"], [("ctrd-1", "nginx")])
    want2 = ("billing", "api-0", CRIO["io.kubernetes.pod.uid"], [("crio-1", "worker")])
    assert identity(manager, o1) == want1
    assert identity(manager, o2) == want2
    assert row(manager, o1) == want1[:3]
    assert row(manager, o2) == want2[:3]

    # persisted: the same after a restart
    assert daemon.stop() == 0
    daemon.start()
    c = daemon.client()
    try:
        assert identity(c, o1) == want1
        assert identity(c, o2) == want2
        assert row(c, o1) == want1[:3]
    finally:
        c.close()


@pytest.mark.parametrize("fake", [
    # a CRI-O key the pod wrote, on a containerd container
    {**CONTAINERD, "io.kubernetes.pod.namespace": "kube-system"},
    # containerd's keys the pod wrote, on a CRI-O container
    {**CRIO, "io.kubernetes.cri.sandbox-namespace": "kube-system"},
    # a podman container with a pod-written CRI-O namespace
    {"io.container.manager": "libpod", "io.kubernetes.pod.namespace": "kube-system"},
], ids=["crio-on-containerd", "containerd-on-crio", "crio-on-podman"])
def test_dbus_imitated_keys_give_no_identity(daemon, manager, cgroup, fake):
    _, p = spawn(cgroup, "fake")
    obj = manager.register("fake-1", p.pid, {**OPT_IN, **fake})
    assert identity(manager, obj) == ("", "", "", [("fake-1", "")])
    assert row(manager, obj) == ("", "", "")
    assert "no pod identity" in daemon.read_log()


def run_hook(daemon, pid, cid, annotations, *args):
    st = {"ociVersion": "1.0.2", "id": cid, "status": "creating", "bundle": "/nonexistent", "pid": pid,
          "annotations": annotations}
    p = subprocess.run([hook_path(), "--config", "/dev/null", *args, "create"], input=json.dumps(st),
                       env={"DBUS_SYSTEM_BUS_ADDRESS": daemon.bus_address, "PAGEMELD_STATE_DIR": daemon.state_dir,
                            "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr


@pytest.mark.parametrize("transport", ["socket", "dbus"])
def test_hook_forwards_runtime_identity(daemon, manager, cgroup, transport):
    extra = ()
    if transport == "dbus":
        os.unlink(os.path.join(daemon.state_dir, "hook.sock"))  # the hook falls back to D-Bus
    _, p1 = spawn(cgroup, "hk-ctrd")
    _, p2 = spawn(cgroup, "hk-crio")
    _, p3 = spawn(cgroup, "hk-fake")
    run_hook(daemon, p1.pid, "hk-ctrd", {**OPT_IN, **CONTAINERD, "unrelated.example.com/x": "y"}, *extra)
    run_hook(daemon, p2.pid, "hk-crio", {**OPT_IN, **CRIO}, *extra)
    run_hook(daemon, p3.pid, "hk-fake", {**OPT_IN, **CONTAINERD, "io.kubernetes.pod.namespace": "kube-system"},
             *extra)
    wait_for(lambda: manager.get("ManagedContainers") == 3, 10, what="three registered")
    by_ctr = {}
    for r in manager.list_cgroups():
        ns, pod, uid, ctrs = identity(manager, str(r[0]))
        assert (ns, pod, uid) == tuple(str(x) for x in r[9:])
        for cid, name in ctrs:
            by_ctr[cid] = (ns, pod, uid, name)
    assert by_ctr["hk-ctrd"] == ("shop", "web-7f9c-x2", CONTAINERD["io.kubernetes.cri.sandbox-uid"], "nginx")
    assert by_ctr["hk-crio"] == ("billing", "api-0", CRIO["io.kubernetes.pod.uid"], "worker")
    # the imitation: merged, nameless
    assert by_ctr["hk-fake"] == ("", "", "", "")


def ctl(daemon, *args):
    r = subprocess.run([str(build_path("api", "pagemeldctl")), *args], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=daemon.bus_address))
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_ctl_metrics_and_json_carry_identity(daemon, manager, cgroup):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
    cg1, p1 = spawn(cgroup, "m-ctrd")
    cg2, p2 = spawn(cgroup, "m-plain")
    manager.register("m-ctrd", p1.pid, {**OPT_IN, **CONTAINERD})
    manager.register("m-plain", p2.pid, OPT_IN)
    fams = {f.name: f for f in text_string_to_metric_families(ctl(daemon, "metrics"))}
    labels = {s.labels["cgroup"]: s.labels for s in fams["pagemeld_cgroup_processes"].samples}
    # cAdvisor's / kube-state-metrics' label names; "" outside Kubernetes
    assert labels[cg1.path] == {"cgroup": cg1.path, "namespace": "shop", "pod": "web-7f9c-x2",
                                "container": "nginx"}
    assert labels[cg2.path] == {"cgroup": cg2.path, "namespace": "", "pod": "", "container": ""}
    for s in fams["pagemeld_cgroup_state"].samples:
        assert s.labels["namespace"] == ("shop" if s.labels["cgroup"] == cg1.path else "")
    rows = {r["path"]: r for r in json.loads(ctl(daemon, "--json", "list"))}
    assert (rows[cg1.path]["pod_namespace"], rows[cg1.path]["pod_name"], rows[cg1.path]["pod_uid"],
            rows[cg1.path]["container_names"]) == ("shop", "web-7f9c-x2",
                                                   CONTAINERD["io.kubernetes.cri.sandbox-uid"], ["nginx"])
    assert (rows[cg2.path]["pod_namespace"], rows[cg2.path]["container_names"]) == (None, [""])


def dashboard_exprs(d):
    exprs = [t["expr"] for p in d["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in d["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_grafana_dashboard_matches_metrics(daemon, manager, cgroup):
    """Every metric an expression of packaging/grafana/pagemeld-dashboard.json
    reads is in `pagemeldctl metrics`, with every label it groups, matches
    or shows by."""
    import re
    from prometheus_client.parser import text_string_to_metric_families
    src = pathlib.Path(__file__).resolve().parents[2]
    d = json.loads((src / "packaging/grafana/pagemeld-dashboard.json").read_text())
    _, p = spawn(cgroup, "dash")
    manager.register("dash-1", p.pid, {**OPT_IN, **CRIO})
    labels = {}
    for f in text_string_to_metric_families(ctl(daemon, "metrics")):
        for s in f.samples:
            labels.setdefault(s.name, set()).update(s.labels)
    exprs = dashboard_exprs(d)
    assert len(exprs) >= 10
    for e in exprs:
        names = re.findall(r"\bpagemeld_[a-z0-9_]+", e)
        assert names, e
        used = set(re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", e))
        used = {x.strip() for g in used for x in g.split(",")} | set(re.findall(r"([a-z_]+)\s*=~?", e))
        used |= set(re.findall(r"label_values\([^,]+,\s*([a-z_]+)\)", e))
        for n in names:
            assert n in labels, f"{n} (in {e!r}) is not in pagemeldctl metrics"
            assert used <= labels[n], (e, used - labels[n])
    for p in d["panels"]:
        for t in p.get("targets", []):
            shown = set(re.findall(r"\{\{(\w+)\}\}", t.get("legendFormat", "")))
            for n in re.findall(r"\bpagemeld_[a-z0-9_]+", t["expr"]):
                assert shown <= labels[n], (t["expr"], shown)


def test_ctl_list_names_wide_and_namespace(daemon, manager, cgroup):
    cg1, p1 = spawn(cgroup, "l-ctrd")
    cg2, p2 = spawn(cgroup, "l-crio")
    cg3, p3 = spawn(cgroup, "l-plain")
    manager.register("l-ctrd", p1.pid, {**OPT_IN, **CONTAINERD})
    manager.register("l-crio", p2.pid, {**OPT_IN, **CRIO})
    manager.register("0123456789abcdef0123456789abcdef", p3.pid, OPT_IN)
    out = ctl(daemon, "list")
    header, *rows = out.splitlines()[:4]  # then the explanation of a state, if any
    assert header.split()[-1] == "NAME"
    names = sorted(r.split()[-1] for r in rows)
    # namespace/pod/container; the short id without identity; no paths
    assert names == ["0123456789ab", "billing/api-0/worker", "shop/web-7f9c-x2/nginx"]
    assert not any(cg.path in out for cg in (cg1, cg2, cg3))
    wide = ctl(daemon, "list", "--wide")
    assert wide.splitlines()[0].split()[-2:] == ["NAME", "CGROUP"]
    assert any(r.split()[-2:] == ["shop/web-7f9c-x2/nginx", cg1.path] for r in wide.splitlines())
    assert any(r.split()[-2:] == ["0123456789ab", cg3.path] for r in wide.splitlines())
    only = ctl(daemon, "list", "--namespace", "shop").splitlines()
    assert only[1].split()[-1] == "shop/web-7f9c-x2/nginx"
    assert len([r for r in only if r.split()[0] in ("merging", "unsupported")]) == 1
    rows = json.loads(ctl(daemon, "--json", "list", "--namespace", "billing"))
    assert [r["path"] for r in rows] == [cg2.path]
    assert ctl(daemon, "list", "--namespace", "nowhere").splitlines()[1:] == ["(no managed cgroups)"]
    top = ctl(daemon, "top", "-n", "1", "--namespace", "billing")
    assert "billing/api-0/worker" in top and "shop/" not in top
