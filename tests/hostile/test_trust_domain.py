# SPDX-License-Identifier: LGPL-2.1-or-later
"""Trust domains against a tenant who writes whatever annotations its pod
spec allows (pagemeld-annotations(7), TRUST DOMAINS).

A container's domain is its pod namespace, read only from the keys the
runtime writes itself after copying the pod's annotations (CRI-O's
io.kubernetes.pod.namespace, containerd's io.kubernetes.cri.sandbox-namespace),
mapped by [TrustDomain] Namespace= rules; trust-domain.pagemeld.io only
narrows it to "<domain>/<name>". The OCI states below are built the way each
runtime builds them: the pod's annotations first, the runtime's own keys over
them (CRI-O: internal/factory/container/container.go SpecAddAnnotations;
containerd: internal/cri/server/container_create.go buildLinuxSpec, then
annotations.DefaultCRIAnnotations). They reach pagemeldd through the real
hook binary (hook socket), as at createRuntime.

What the design gives against squatting, exactly: under Mode=single without
Domain=, the first domain to register holds the node until its last merging
container is gone and its merged pages with it. A tenant holds it as long as
it keeps one opted-in container running, exactly as any namespace that comes
first does; narrowing adds nothing to that, except that a narrowed domain is
a domain of its own even where the operator's rules put every namespace in
one. Domain= pins the node to one domain: then no tenant can take it.
"""
import json
import os
import subprocess

import pytest

from oci import Podman, hook_path, memfill_args, v2_cgroup_of
from pmtest import DEFAULT_DAEMON_CONFIG, Daemon, ksm_stat, wait_for

OPT_IN = {"merge.pagemeld.io": "true"}


def crio(namespace, pod, pod_annotations=None):
    """The annotations CRI-O writes into an app container's spec: the pod's
    (sandbox) annotations, then its own keys and the kubelet's labels."""
    a = dict(pod_annotations or {})
    a.update({"io.container.manager": "cri-o", "io.kubernetes.cri-o.ContainerType": "container",
              "io.kubernetes.pod.namespace": namespace, "io.kubernetes.pod.name": pod,
              "io.kubernetes.pod.uid": f"{pod}-0000-4000-8000-000000000001",
              "io.kubernetes.container.name": "app"})
    return a


def containerd(namespace, pod, pod_annotations=None):
    """containerd's: the pod annotations its pod_annotations globs let
    through, then DefaultCRIAnnotations."""
    a = dict(pod_annotations or {})
    a.update({"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "b" * 64,
              "io.kubernetes.cri.sandbox-namespace": namespace, "io.kubernetes.cri.sandbox-name": pod,
              "io.kubernetes.cri.sandbox-uid": f"{pod}-0000-4000-8000-000000000002",
              "io.kubernetes.cri.container-name": "app", "io.kubernetes.cri.image-name": "img:1"})
    return a


def hook(daemon, cid, pid, annotations):
    """pagemeld-oci-hook create, fail-mode open: a refused container runs
    unmerged. Returns the hook's exit code."""
    st = {"ociVersion": "1.0.2", "id": cid, "status": "creating", "bundle": "/nonexistent", "pid": pid,
          "annotations": annotations}
    p = subprocess.run([hook_path(), "--config", "/dev/null", "--fail-mode", "open", "create"],
                       input=json.dumps(st), capture_output=True, text=True, timeout=30,
                       env={"DBUS_SYSTEM_BUS_ADDRESS": daemon.bus_address, "PAGEMELD_STATE_DIR": daemon.state_dir,
                            "PATH": "/usr/bin:/bin"})
    return p.returncode


def start(bus, extra=""):
    d = Daemon(bus, config=DEFAULT_DAEMON_CONFIG + extra)
    d.start()
    return d


def domains(manager):
    return {str(r[1]): str(manager.cgroup_props(str(r[0]))["TrustDomain"]) for r in manager.list_cgroups()}


def merge_any(pid):
    return ksm_stat(pid)["ksm_merge_any"]


def spawn(cgroup, name):
    cg = cgroup(name)
    return cg, cg.spawn_memfill(merge=False)


def test_attacker_naming_the_victims_domain_stays_in_its_own(daemon, manager, cgroup):
    vcg, victim = spawn(cgroup, "victim")
    assert hook(daemon, "victim-1", victim.pid, crio("victim", "db", OPT_IN)) == 0
    assert domains(manager) == {vcg.path: "victim"}
    assert manager.get("TrustDomain") == "victim"

    acg, attacker = spawn(cgroup, "attacker")
    # the victim's domain name, or the no-namespace domain's
    for name in ("victim", "Host"):
        ann = crio("attacker", "spy", {**OPT_IN, "trust-domain.pagemeld.io": name})
        assert hook(daemon, "attacker-1", attacker.pid, ann) == 0  # runs, unmerged
    assert "trust domain attacker/victim while victim merges" in daemon.read_log()
    assert "trust domain attacker/Host while victim merges" in daemon.read_log()
    # no annotation: its namespace, which is not the victim's either
    assert hook(daemon, "attacker-1", attacker.pid, crio("attacker", "spy", OPT_IN)) == 0
    assert "trust domain attacker while victim merges" in daemon.read_log()

    # What the victim and the daemon see: the attacker never merged, the
    # victim is alone in its domain and still merging.
    assert merge_any(attacker.pid) == 0
    assert domains(manager) == {vcg.path: "victim"}
    assert merge_any(victim.pid) == 1
    assert manager.get("ManagedContainers") == 1
    # a pod of the victim's own namespace is welcome
    ocg, other = spawn(cgroup, "victim-2")
    assert hook(daemon, "victim-2", other.pid, crio("victim", "cache", OPT_IN)) == 0
    assert domains(manager) == {vcg.path: "victim", ocg.path: "victim"}
    assert merge_any(other.pid) == 1


# Keys a pod can write that its runtime lets through: another runtime's
# namespace key. (Its own runtime's key the pod cannot write: the runtime's
# value overwrites it, as crio()/containerd() do.)
IMITATIONS = {
    "containerd-key-on-crio": crio("attacker", "spy", {**OPT_IN, "io.kubernetes.cri.sandbox-namespace": "victim"}),
    "crio-key-on-containerd": containerd("attacker", "spy", {**OPT_IN, "io.kubernetes.pod.namespace": "victim"}),
    "own-key-overwritten-on-crio": crio("attacker", "spy", {**OPT_IN, "io.kubernetes.pod.namespace": "victim"}),
    "crio-key-on-podman": {**OPT_IN, "io.container.manager": "libpod", "io.kubernetes.pod.namespace": "victim"},
}


@pytest.mark.parametrize("name", list(IMITATIONS))
def test_pod_written_namespace_keys_are_not_believed(daemon, manager, cgroup, name):
    vcg, victim = spawn(cgroup, "victim")
    assert hook(daemon, "victim-1", victim.pid, crio("victim", "db", OPT_IN)) == 0
    acg, attacker = spawn(cgroup, "attacker")
    ann = IMITATIONS[name]
    assert hook(daemon, "attacker-1", attacker.pid, ann) == 0  # runs, unmerged
    log = daemon.read_log()
    if name == "own-key-overwritten-on-crio":
        # the runtime wrote "attacker" over the pod's "victim"
        assert ann["io.kubernetes.pod.namespace"] == "attacker"
        assert "trust domain attacker while victim merges" in log
    else:
        assert "no trust domain can be told, it runs unmerged" in log, log
    assert merge_any(attacker.pid) == 0
    assert domains(manager) == {vcg.path: "victim"}
    assert merge_any(victim.pid) == 1

    # Alone on the node it is refused all the same: an imitation has no
    # namespace, and the no-namespace domain is not its either.
    manager.unregister("victim-1")
    assert hook(daemon, "attacker-1", attacker.pid, ann) == 0
    if name == "own-key-overwritten-on-crio":
        assert domains(manager) == {acg.path: "attacker"}
    else:
        assert manager.get("ManagedContainers") == 0 and merge_any(attacker.pid) == 0
        assert manager.get("TrustDomain") == ""


def test_no_namespace_containers_share_the_operators_domain(bus, cgroup):
    d = start(bus, "[TrustDomain]\nNoNamespaceDomain=node.jobs\n")
    m = d.client()
    try:
        cg1, p1 = spawn(cgroup, "job1")
        cg2, p2 = spawn(cgroup, "job2")
        # no runtime keys: runc, crun, `podman run`, podman kube play
        assert hook(d, "job-1", p1.pid, OPT_IN) == 0
        assert hook(d, "job-2", p2.pid, {**OPT_IN, "io.container.manager": "libpod"}) == 0
        assert domains(m) == {cg1.path: "node.jobs", cg2.path: "node.jobs"}
        assert merge_any(p1.pid) == 1 and merge_any(p2.pid) == 1
        assert m.get("TrustDomain") == "node.jobs"
        # a Kubernetes pod does not join them, whatever it names
        cg3, p3 = spawn(cgroup, "pod")
        for ann in (crio("shop", "web", OPT_IN),
                    crio("shop", "web", {**OPT_IN, "trust-domain.pagemeld.io": "node.jobs"})):
            assert hook(d, "pod-1", p3.pid, ann) == 0
        assert merge_any(p3.pid) == 0
        assert domains(m) == {cg1.path: "node.jobs", cg2.path: "node.jobs"}
    finally:
        m.close()
        d.cleanup()
    # and the operator cannot name a namespace as that domain by mistake
    bad = Daemon(bus, config=DEFAULT_DAEMON_CONFIG + "[TrustDomain]\nNoNamespaceDomain=shop\n")
    try:
        code, log = bad.start_expecting_exit()
        assert code != 0
        assert "no namespace's name" in log
    finally:
        bad.cleanup()


def test_squatting_holds_the_node_only_as_single_mode_means(bus, cgroup):
    scg, squatter = spawn(cgroup, "squat")
    vcg, victim = spawn(cgroup, "shop")
    squat = crio("squat", "s", {**OPT_IN, "trust-domain.pagemeld.io": "unique-7f3a"})
    shop = crio("shop", "web", OPT_IN)

    # Mode=single, nothing pinned: first come holds the node (by design) ...
    d = start(bus)
    m = d.client()
    try:
        assert hook(d, "squat-1", squatter.pid, squat) == 0
        assert m.get("TrustDomain") == "squat/unique-7f3a"
        assert hook(d, "shop-1", victim.pid, shop) == 0
        assert merge_any(victim.pid) == 0 and domains(m) == {scg.path: "squat/unique-7f3a"}
        # ... only while it has a merging container: then the next one takes it
        m.unregister("squat-1")
        wait_for(lambda: m.get("TrustDomain") == "", 5, what="the node released")
        assert hook(d, "shop-1", victim.pid, shop) == 0
        assert m.get("TrustDomain") == "shop" and merge_any(victim.pid) == 1
        m.unregister("shop-1")
    finally:
        m.close()
        d.cleanup()

    # Rules that put every namespace in one domain: a narrowed name is a
    # domain of its own, so a squatter can still come first.
    s2, squatter2 = spawn(cgroup, "squat2")
    d = start(bus, "[TrustDomain]\nNamespace=* shared\n")
    m = d.client()
    try:
        assert hook(d, "squat-2", squatter2.pid, squat) == 0
        assert m.get("TrustDomain") == "shared/unique-7f3a"
    finally:
        m.close()
        d.cleanup()

    # Domain= pinned by the operator: the squatter cannot take the node,
    # whoever comes first.
    s3, squatter3 = spawn(cgroup, "squat3")
    v3, victim3 = spawn(cgroup, "shop3")
    d = start(bus, "[TrustDomain]\nNamespace=* shared\nDomain=shared\n")
    m = d.client()
    try:
        assert hook(d, "squat-3", squatter3.pid, squat) == 0
        assert merge_any(squatter3.pid) == 0 and m.get("ManagedContainers") == 0
        assert hook(d, "shop-3", victim3.pid, shop) == 0
        assert hook(d, "squat-4", squatter3.pid, crio("squat", "s", OPT_IN)) == 0
        assert domains(m) == {v3.path: "shared", s3.path: "shared"}
        assert merge_any(victim3.pid) == 1 and merge_any(squatter3.pid) == 1
    finally:
        m.close()
        d.cleanup()


POD = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
  namespace: victim
  annotations:
    merge.pagemeld.io: "true"
{extra}spec:
  restartPolicy: Never
  containers:
  - name: app
    image: {image}
    command: {cmd}
"""


def test_podman_kube_play_namespace_reaches_the_domain(daemon, manager, ws):
    """End to end through podman kube play and the hooks.d hook: kube play
    keeps no namespace (metadata.namespace is dropped, and it writes no
    namespace key), so its pods land in the no-namespace domain; a pod that
    writes a CRI-O namespace key itself, which podman lets through, is
    refused: pagemeldd believes only the runtime's keys."""
    pm = Podman(ws, daemon.bus_address, ("--fail-mode", "open"), daemon.state_dir)
    cmd = "[" + ", ".join(f'"{a}"' for a in memfill_args(64, 16)) + "]"
    p = pm.kube_play(POD.format(name="plain", extra="", image=pm.image, cmd=cmd))
    assert p.returncode == 0, p.stdout + p.stderr
    plain = pm.pid("plain-app")
    cg = v2_cgroup_of(plain)
    wait_for(lambda: cg in domains(manager), 15, what="kube play pod registered")
    assert domains(manager) == {cg: "Host"}
    assert manager.get("TrustDomain") == "Host"
    assert merge_any(plain) == 1

    forged = '    io.kubernetes.pod.namespace: "kube-system"\n'
    p = pm.kube_play(POD.format(name="forged", extra=forged, image=pm.image, cmd=cmd))
    assert p.returncode == 0, p.stdout + p.stderr
    ann = json.loads(pm.podman("inspect", "forged-app", check=True).stdout)[0]["Config"]["Annotations"]
    assert ann["io.kubernetes.pod.namespace"] == "kube-system"  # podman let it through
    f = pm.pid("forged-app")
    wait_for(lambda: "no trust domain can be told" in daemon.read_log(), 15, what="the forged pod refused")
    assert merge_any(f) == 0
    assert domains(manager) == {cg: "Host"}
    assert os.path.exists(f"/proc/{f}")  # it runs, unmerged
