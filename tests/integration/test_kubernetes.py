# SPDX-License-Identifier: LGPL-2.1-or-later
"""packaging/kubernetes: every manifest parses and says what the
design needs; the ConfigMap's pagemeld.conf is one pagemeldd accepts; the
host-install script really produces hooks.d files that run the hook through
the bundled loader; and the example Pod plays with `podman kube play`
(local image only, private podman storage, no network), then is removed.
"""
import json
import os
import re
import pathlib
import shutil
import subprocess

import pytest
import yaml

from conftest import SRC, build_path, require_root, wait_for

K8S = SRC / "packaging/kubernetes"


def load_all():
    docs = {}
    for f in sorted(K8S.glob("*.yaml")):
        for d in yaml.safe_load_all(f.read_text()):
            if d is not None:
                docs.setdefault(d["kind"], []).append((f.name, d))
    return docs


def test_yaml_parses_and_has_every_piece():
    docs = load_all()
    assert {"Namespace", "ConfigMap", "DaemonSet", "Pod"} <= set(docs)
    for kind, items in docs.items():
        for name, d in items:
            assert d["apiVersion"] and d["metadata"]["name"], name


def test_daemonset():
    (_, ds), = load_all()["DaemonSet"]
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostPID"] is True
    assert spec["automountServiceAccountToken"] is False  # no API access, no RBAC
    (daemon,) = spec["containers"]
    assert daemon["securityContext"]["privileged"] is True
    assert "/usr/sbin/pagemeldd" in daemon["command"]
    # Guaranteed QoS so it is the last OOM victim
    assert daemon["resources"]["requests"] == daemon["resources"]["limits"]
    mounts = {m["mountPath"] for m in daemon["volumeMounts"]}
    assert {"/run/dbus", "/sys/fs/cgroup", "/run/pagemeld", "/etc/pagemeld"} <= mounts
    (init,) = spec["initContainers"]
    assert "install-host.sh" in " ".join(init["command"])
    vols = {v["name"]: v for v in spec["volumes"]}
    for m in init["volumeMounts"] + daemon["volumeMounts"]:
        assert m["name"] in vols, m
    host_paths = {v["hostPath"]["path"] for v in vols.values() if "hostPath" in v}
    assert {"/etc/containers/oci/hooks.d", "/opt/pagemeld", "/etc/dbus-1/system.d"} <= host_paths
    # selector matches the template
    assert ds["spec"]["selector"]["matchLabels"].items() <= ds["spec"]["template"]["metadata"]["labels"].items()


def configmap():
    (_, cm), = load_all()["ConfigMap"]
    return cm["data"]


def test_configmap_config_is_accepted_by_pagemeldd(tmp_path):
    daemon = build_path("daemon", "pagemeldd")
    if not daemon.exists():
        pytest.fail(f"{daemon} not built")
    conf = tmp_path / "pagemeld.conf"
    conf.write_text(configmap()["pagemeld.conf"])
    r = subprocess.run([str(daemon), "--config", str(conf), "--check-config"], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr


def test_install_host_script(tmp_path):
    hook = build_path("runtime-hook", "pagemeld-oci-hook")
    if not hook.exists():
        pytest.fail(f"{hook} not built")
    host = tmp_path / "host"
    for d in ("hooks.d", "dbus-system.d"):
        (host / d).mkdir(parents=True)
    policy = tmp_path / "policy.conf"
    policy.write_text("<busconfig/>\n")
    script = tmp_path / "install-host.sh"
    script.write_text(configmap()["install-host.sh"])
    env = dict(os.environ, PAGEMELD_HOOK=str(hook), PAGEMELD_HOST=str(host), PAGEMELD_POLICY=str(policy))
    for _ in range(2):  # idempotent: a DaemonSet restart runs it again
        r = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    assert (host / "dbus-system.d/io.pagemeld1.conf").read_text() == "<busconfig/>\n"
    stages = {}
    for name in ("50-pagemeld-create.json", "50-pagemeld-stop.json"):
        doc = json.loads((host / "hooks.d" / name).read_text())
        assert doc["version"] == "1.0.0"
        stages[doc["args"][-1] if "args" in doc else doc["hook"]["args"][-1]] = doc["stages"]
        # run it as the runtime would, with the host prefix added: the
        # bundled loader starts the bundled hook, which (no annotation opts
        # this container in) exits 0 without calling anyone
        fix = lambda p: p.replace("/opt/pagemeld", str(host / "opt/pagemeld"))
        path = fix(doc["hook"]["path"])
        args = [fix(a) for a in doc["hook"]["args"]]
        state = json.dumps({"ociVersion": "1.0.2", "id": "k8s-test", "status": "created", "pid": os.getpid(),
                            "bundle": str(tmp_path), "annotations": {}})
        r = subprocess.run(args, executable=path, input=state, capture_output=True, text=True, timeout=30,
                           env={"PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, f"{name}: {r.returncode} {r.stderr}"
        rx = next(iter(doc["when"]["annotations"]))
        assert re.match(rx, "merge.pagemeld.io") and re.match(rx, "merge.pagemeld.io/app")
    assert stages == {"create": ["createRuntime"], "stop": ["poststop"]}


@pytest.fixture
def podman_env(tmp_path):
    """A private podman: own storage (vfs), runc, cgroupfs, no hooks."""
    require_root()
    if not shutil.which("podman"):
        pytest.fail("podman missing: scripts/install-deps.sh installs it")
    base = pathlib.Path(tmp_path)
    (base / "hooks.d").mkdir()
    (base / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{base}/storage"\nrunroot = "{base}/run"\n')
    (base / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        f'[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
        f'hooks_dir = ["{base}/hooks.d"]\n')
    env = dict(os.environ, CONTAINERS_CONF=str(base / "containers.conf"),
               CONTAINERS_STORAGE_CONF=str(base / "storage.conf"))
    yield env
    subprocess.run(["podman", "pod", "rm", "--all", "--force", "--time", "0"], env=env,
                   capture_output=True, timeout=120)
    # Not `podman system reset`: it would also drop the machine's CNI
    # networks, shared with every other podman user.
    subprocess.run(["podman", "rmi", "--all", "--force"], env=env, capture_output=True, timeout=120)
    with open("/proc/self/mounts") as f:
        left = [line.split()[1] for line in f if line.split()[1].startswith(str(base) + "/")]
    for m in sorted(left, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True)
    shutil.rmtree(base / "storage", ignore_errors=True)
    shutil.rmtree(base / "run", ignore_errors=True)


def podman(env, *args, timeout=120, check=True):
    r = subprocess.run(["podman", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, f"podman {' '.join(args)}: {r.stdout}{r.stderr}"
    return r


def test_example_pod_plays(podman_env):
    r = subprocess.run(["bash", str(SRC / "scripts/demo-image.sh"), str(build_path())], env=podman_env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    (_, pod), = load_all()["Pod"]
    for c in pod["spec"]["containers"]:
        assert c["imagePullPolicy"] == "Never" and c["image"].startswith("localhost/")
    podman(podman_env, "kube", "play", "--network", "none", str(K8S / "example-pod.yaml"))
    try:
        names = [f"{pod['metadata']['name']}-{c['name']}" for c in pod["spec"]["containers"]]

        def all_ready():
            for n in names:
                logs = podman(podman_env, "logs", n, check=False).stdout
                if "ready" not in logs:
                    return False
            return True

        wait_for(all_ready, timeout=60, interval=0.5, what="memfill ready in every container")
        for n in names:
            state = podman(podman_env, "inspect", "--format", "{{.State.Status}}", n).stdout.strip()
            assert state == "running", f"{n}: {state}"
        inspect = json.loads(podman(podman_env, "inspect", names[0]).stdout)[0]
        ann = inspect["Config"]["Annotations"]
        assert ann.get("merge.pagemeld.io") == "true"
        assert ann.get("merge.pagemeld.io/sidecar") == "false"
    finally:
        pod_id = podman(podman_env, "pod", "inspect", "--format", "{{.Id}}", pod["metadata"]["name"],
                        check=False).stdout.strip()
        podman(podman_env, "kube", "down", str(K8S / "example-pod.yaml"), check=False)
        remove_pod_cgroups(pod_id)
    assert pod["metadata"]["name"] not in podman(podman_env, "pod", "ps", "--format", "{{.Name}}").stdout


def remove_pod_cgroups(pod_id):
    """podman with cgroupfs leaves the pod's empty cgroup directories."""
    if not re.fullmatch(r"[0-9a-f]{64}", pod_id):
        return
    for d in pathlib.Path("/sys/fs/cgroup").glob(f"*/libpod_parent/{pod_id}"):
        try:
            d.rmdir()
        except OSError as e:
            print(f"cannot remove {d}: {e}")
