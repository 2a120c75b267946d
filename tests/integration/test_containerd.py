# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeld behind containerd's CRI plugin, end to end: the Debian
containerd, configured by packaging/containerd/pagemeld-containerd-setup
(base spec from `ctr oci spec` plus the hook, pod annotations let through),
runs a pod of three memfill containers through CRI v1 as the kubelet
would: the pod opts in, one container opts out by its own key. Through
D-Bus, pagemeldd shows merged pages in the two opted-in containers'
cgroups, nothing for the third, never the sandbox, and forgets both
cgroups when the pod stops. cri.py has the harness.
"""
import os
import subprocess
import time

import test_hook_runtimes as hr
from conftest import ksm_fast_scan, wait_for
from cri import SETUP, Containerd
from oci import memfill_args, remove_cgroup_tree, v2_cgroup_of

HOOK_ARGS = ("--fail-mode", "closed")
POD_NAMESPACE = "team-a"
POD_NAME = "merge-demo"
POD_UID = "0f6c51c1-5d6e-4b55-9a3c-6f1f1e1a9b01"


def test_containerd_pod(ksm, daemon, manager, ws):
    started = time.monotonic()
    ctrd = Containerd(ws, HOOK_ARGS, [f"DBUS_SYSTEM_BUS_ADDRESS={daemon.bus_address}",
                                      f"PAGEMELD_STATE_DIR={daemon.state_dir}"])
    assert "written" in ctrd.setup_output[0] and "written" in ctrd.setup_output[1], ctrd.setup_output
    cgroup_parent = f"/pagemeld-cri-{ws.tag}"
    ws.on_cleanup(lambda: remove_cgroup_tree(cgroup_parent))
    version = ctrd.start()
    assert version.runtime_name == "containerd" and version.runtime_api_version == "v1", version
    # The sandbox's entrypoint (the image's Cmd) must block: it is the pause.
    ctrd.import_image(ws.rootfs, ["/bin/sleep", "100000"])

    annotations = {"merge.pagemeld.io": "true", "merge.pagemeld.io/optout": "false"}
    pod_cfg = ctrd.sandbox_config(POD_NAME, POD_NAMESPACE, POD_UID, annotations, cgroup_parent)
    pod = ctrd.run_pod(pod_cfg)
    names = ["app-a", "app-b", "optout"]
    ids = {n: ctrd.create_start(pod, pod_cfg, n, memfill_args(hr.SAME, hr.UNIQUE)) for n in names}

    pids, cgroups = {}, {}
    for n, cid in ids.items():
        status, info = ctrd.container_status(cid)
        assert status.state == ctrd.pb2.CONTAINER_RUNNING, (n, status)
        pids[n] = int(info["pid"])
        cgroups[n] = v2_cgroup_of(pids[n])
        assert cgroups[n].startswith(cgroup_parent + "/"), cgroups[n]
    assert len(set(cgroups.values())) == 3

    # What containerd handed runc: the hook and the let-through pod
    # annotations in the app containers' specs, with containerd's own keys;
    # the sandbox gets neither the base spec's hooks nor a registration.
    for n, cid in ids.items():
        spec = ctrd.oci_spec(cid)
        a = spec["annotations"]
        assert spec["hooks"]["createRuntime"][0]["args"][-1] == "create"
        assert a["merge.pagemeld.io"] == "true" and a["merge.pagemeld.io/optout"] == "false"
        assert (a["io.kubernetes.cri.container-type"], a["io.kubernetes.cri.container-name"]) == ("container", n)
        assert (a["io.kubernetes.cri.sandbox-namespace"], a["io.kubernetes.cri.sandbox-name"],
                a["io.kubernetes.cri.sandbox-uid"], a["io.kubernetes.cri.sandbox-id"]) == \
            (POD_NAMESPACE, POD_NAME, POD_UID, pod)
        # the base spec drops the default spec's RLIMIT_NOFILE 1024, as
        # CRI itself does without one
        assert "rlimits" not in spec["process"]
    sandbox = ctrd.oci_spec(pod)
    assert "hooks" not in sandbox
    assert sandbox["annotations"]["io.kubernetes.cri.container-type"] == "sandbox"
    sandbox_cg = v2_cgroup_of(ctrd.sandbox_pid(pod))

    # Registered at createRuntime: exactly the two opted-in cgroups.
    opted = {n: cgroups[n] for n in ("app-a", "app-b")}
    listed = sorted(str(r[1]) for r in manager.list_cgroups())
    assert listed == sorted(opted.values()), (listed, cgroups, sandbox_cg)
    for n, cg in opted.items():
        props = manager.cgroup_props(str(hr.row_for(manager, cg)[0]))
        # the identity from containerd's own keys, in the object and the list
        assert [tuple(map(str, c)) for c in props["Containers"]] == [(ids[n], n)]
        ident = (POD_NAMESPACE, POD_NAME, POD_UID)
        assert (props["PodNamespace"], props["PodName"], props["PodUID"]) == ident
        assert tuple(map(str, hr.row_for(manager, cg)[9:12])) == ident
        # the trust domain is that namespace (no rules: its own domain)
        assert props["TrustDomain"] == POD_NAMESPACE

    for n in names:
        hr.wait_memfill_ready(pids[n])
    ksm_fast_scan()
    for n, cg in opted.items():
        hr.wait_merged(manager, cg, pids[n])
    # The opted-out container, whose pages are the same, merged nothing
    # and was never handed over; neither was the sandbox.
    time.sleep(1)
    st = hr.ksm_stat(pids["optout"])
    assert st["ksm_merge_any"] == 0 and st["ksm_merging_pages"] == 0
    listed = [str(r[1]) for r in manager.list_cgroups()]
    assert sorted(listed) == sorted(opted.values())
    assert cgroups["optout"] not in listed and sandbox_cg not in listed
    assert ids["optout"] not in os.listdir(os.path.join(daemon.state_dir, "containers"))
    assert pod not in daemon.read_log()

    markers = [os.path.join(daemon.state_dir, "containers", ids[n]) for n in opted]
    assert all(os.path.exists(m) for m in markers)

    # The pod stops: both cgroups are forgotten, and their markers with them.
    ctrd.stop_pod(pod)
    wait_for(lambda: manager.list_cgroups() == [], 20, what="pod's cgroups unregistered")
    wait_for(lambda: not any(os.path.exists(m) for m in markers), 20, what="registration markers removed")
    ctrd.remove_pod(pod)
    print(f"containerd pod test: {time.monotonic() - started:.1f} s")


def test_containerd_without_pod_annotations(daemon, manager, ws):
    """The base spec alone is not enough: without the handler's
    pod_annotations the pod's opt-in never reaches the container, the hook
    runs and does nothing."""
    ctrd = Containerd(ws, HOOK_ARGS, [f"DBUS_SYSTEM_BUS_ADDRESS={daemon.bus_address}",
                                      f"PAGEMELD_STATE_DIR={daemon.state_dir}"])
    ctrd.without_pod_annotations()
    cgroup_parent = f"/pagemeld-cri-{ws.tag}"
    ws.on_cleanup(lambda: remove_cgroup_tree(cgroup_parent))
    ctrd.start()
    ctrd.import_image(ws.rootfs, ["/bin/sleep", "100000"])
    pod_cfg = ctrd.sandbox_config(POD_NAME, POD_NAMESPACE, POD_UID, {"merge.pagemeld.io": "true"}, cgroup_parent)
    pod = ctrd.run_pod(pod_cfg)
    cid = ctrd.create_start(pod, pod_cfg, "app", memfill_args(64, 8))
    status, info = ctrd.container_status(cid)
    assert status.state == ctrd.pb2.CONTAINER_RUNNING, status
    spec = ctrd.oci_spec(cid)
    assert spec["hooks"]["createRuntime"] and "merge.pagemeld.io" not in spec["annotations"]
    assert spec["annotations"]["io.kubernetes.cri.sandbox-namespace"] == POD_NAMESPACE
    assert manager.list_cgroups() == []
    assert hr.ksm_stat(int(info["pid"]))["ksm_merge_any"] == 0
    ctrd.stop_pod(pod)
    ctrd.remove_pod(pod)


def run_setup(*args, **env):
    return subprocess.run(["sh", str(SETUP), *map(str, args)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **env))


RUNC_TABLE = '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]'


def runc_table(text):
    t = text[text.index(RUNC_TABLE):]
    return t[:t.index("\n\n")]


def test_setup_config_keeps_what_is_there(tmp_path):
    """config: the handler's existing pod_annotations are extended, every
    other setting (imported ones too) is kept, `imports` goes, the old file
    is kept once, and a second run changes nothing."""
    spec = tmp_path / "spec.json"
    assert run_setup("base-spec", "-o", spec).returncode == 0
    extra = tmp_path / "extra.toml"
    extra.write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "local/pause:1"\n'
                     '  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
                     '    runtime_type = "io.containerd.runc.v2"\n    pod_annotations = ["example.com/*"]\n'
                     '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n'
                     '      SystemdCgroup = true\n')
    main = tmp_path / "config.toml"
    main.write_text(f'version = 2\nimports = ["{extra}"]\nroot = "{tmp_path}/root"\n')
    before = main.read_text()
    r = run_setup("config", "--config", main, "--base-spec", spec, "-o", main)
    assert r.returncode == 0 and "written" in r.stdout, r.stdout + r.stderr
    text = main.read_text()
    assert (tmp_path / "config.toml.pagemeld-orig").read_text() == before
    assert "imports" not in text and f'root = "{tmp_path}/root"' in text
    assert 'sandbox_image = "local/pause:1"' in text and "SystemdCgroup = true" in text
    t = runc_table(text)
    assert f'base_runtime_spec = "{spec}"' in t
    assert 'pod_annotations = ["example.com/*", "*.pagemeld.io", "*.pagemeld.io/*"]' in t
    r = run_setup("config", "--config", main, "--base-spec", spec, "-o", main)
    assert r.returncode == 0 and "unchanged" in r.stdout, r.stdout + r.stderr
    assert main.read_text() == text


def test_setup_refuses(tmp_path):
    """Another base spec on the handler, an unknown handler, no base spec,
    a broken `ctr oci spec`: exit 1, a reason, nothing written."""
    spec = tmp_path / "spec.json"
    assert run_setup("base-spec", "-o", spec).returncode == 0
    main = tmp_path / "config.toml"
    main.write_text('version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n'
                    '  runtime_type = "io.containerd.runc.v2"\n  base_runtime_spec = "/etc/other.json"\n')
    out = tmp_path / "out.toml"
    cases = [
        (("config", "--config", main, "--base-spec", spec, "-o", out), {}, "already has another base_runtime_spec"),
        (("config", "--config", main, "--base-spec", spec, "-o", out, "--runtime", "kata"), {},
         "no runtime handler 'kata'"),
        (("config", "--config", main, "--base-spec", tmp_path / "none.json", "-o", out), {}, "no base spec"),
        (("base-spec", "-o", tmp_path / "bad.json"), {"CTR": "echo {"}, "cannot edit"),
        (("base-spec", "-o", tmp_path / "bad.json"), {"CTR": "false"}, "oci spec' failed"),
    ]
    for args, env, why in cases:
        r = run_setup(*args, **env)
        assert r.returncode == 1 and why in r.stderr, (args, r.stdout, r.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml", "spec.json"]
