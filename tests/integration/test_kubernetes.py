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
import socket
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
    assert {"/etc/containers/oci/hooks.d", "/opt/pagemeld", "/etc/dbus-1/system.d", "/etc/containerd",
            "/"} <= host_paths
    # the host's root only to read: which runtime, and its ctr/containerd
    (root,) = [m for m in init["volumeMounts"] if m["mountPath"] == "/host/root"]
    assert root["readOnly"] is True and vols[root["name"]]["hostPath"]["path"] == "/"
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


def fake_host(tmp_path, runtime=None):
    """The init container's /host: empty host directories, and the node's
    runtime told by its socket under /host/root."""
    host = tmp_path / "host"
    for d in ("hooks.d", "dbus-system.d", "containerd", "root/etc"):
        (host / d).mkdir(parents=True)
    # the host's /etc/containerd, seen through the read-only root as well
    (host / "root/etc/containerd").symlink_to(host / "containerd")
    socks = []
    if runtime:
        path = host / "root" / {"containerd": "run/containerd/containerd.sock", "crio": "run/crio/crio.sock"}[runtime]
        path.parent.mkdir(parents=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # through the directory's fd: pytest's tmp_path (its pytest-N grows
        # run after run) can push the full path past sun_path's 108 bytes
        d = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
        try:
            s.bind(f"/proc/self/fd/{d}/{path.name}")
        finally:
            os.close(d)
        socks.append(s)
    return host, socks


def run_install_host(tmp_path, host, **extra):
    hook = build_path("runtime-hook", "pagemeld-oci-hook")
    if not hook.exists():
        pytest.fail(f"{hook} not built")
    policy = tmp_path / "policy.conf"
    policy.write_text("<busconfig/>\n")
    script = tmp_path / "install-host.sh"
    script.write_text(configmap()["install-host.sh"])
    # This machine's ctr and containerd (the Debian package) stand for the
    # node's: no chroot into the fake root, which holds no binaries.
    env = dict(os.environ, PAGEMELD_HOOK=str(hook), PAGEMELD_HOST=str(host), PAGEMELD_POLICY=str(policy),
               PAGEMELD_CONTAINERD_SETUP=str(SRC / "packaging/containerd/pagemeld-containerd-setup"),
               PAGEMELD_HOST_EXEC="env", **extra)
    r = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def test_install_host_script(tmp_path):
    host, _ = fake_host(tmp_path)
    (host / "hooks.d" / "50-pagemeld-stop.json").write_text("{}")  # an older install's: removed
    for _ in range(2):  # idempotent: a DaemonSet restart runs it again
        out = run_install_host(tmp_path, host)
    assert "runtimes acted on: none found (hooks.d files only)" in out, out
    assert list((host / "containerd").iterdir()) == []
    assert (host / "dbus-system.d/io.pagemeld1.conf").read_text() == "<busconfig/>\n"
    stages = {}
    for name in ("50-pagemeld-create.json",):
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
    assert stages == {"create": ["createRuntime"]}
    assert {p.name for p in (host / "hooks.d").iterdir()} == {"50-pagemeld-create.json"}


def test_install_host_script_crio(tmp_path):
    host, socks = fake_host(tmp_path, "crio")
    out = run_install_host(tmp_path, host)
    assert "CRI-O node" in out and "runtimes acted on: CRI-O" in out, out
    assert {p.name for p in (host / "hooks.d").iterdir()} == {"50-pagemeld-create.json"}
    assert list((host / "containerd").iterdir()) == []


def test_install_host_script_containerd(tmp_path):
    """On a containerd node: the base spec from the installed containerd's
    `ctr oci spec` with the bundled hook, and config.toml pointing the runc
    handler at it, both written once; the hook runs from the base spec."""
    if not shutil.which("containerd"):
        pytest.fail("containerd missing: scripts/install-deps.sh installs it")
    host, socks = fake_host(tmp_path, "containerd")
    out = run_install_host(tmp_path, host)
    assert "runtimes acted on: containerd" in out and "restart containerd" in out, out
    assert "written" in out and "unchanged" not in out, out
    out = run_install_host(tmp_path, host)
    assert "written" not in out and out.count("unchanged") == 2, out

    spec = json.loads((host / "containerd/pagemeld-base-spec.json").read_text())
    default = json.loads(subprocess.run(["ctr", "oci", "spec"], capture_output=True, text=True,
                                        check=True).stdout)
    assert {k: v for k, v in spec.items() if k != "hooks"} == \
        dict(default, process={k: v for k, v in default["process"].items() if k != "rlimits"})
    fix = lambda p: p.replace("/opt/pagemeld", str(host / "opt/pagemeld"))
    assert set(spec["hooks"]) == {"createRuntime"}  # pagemeldd unregisters on init exit
    for stage, name in (("createRuntime", "create"),):
        (h,) = spec["hooks"][stage]
        assert h["path"].startswith("/opt/pagemeld/lib/ld-linux")
        assert h["args"] == ["pagemeld-oci-hook", "--library-path", "/opt/pagemeld/lib",
                             "/opt/pagemeld/libexec/pagemeld-oci-hook", name]
        state = json.dumps({"ociVersion": "1.0.2", "id": "k8s-test", "status": "created", "pid": os.getpid(),
                            "bundle": str(tmp_path), "annotations": {}})
        r = subprocess.run([fix(a) for a in h["args"]], executable=fix(h["path"]), input=state,
                           capture_output=True, text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, f"{stage}: {r.returncode} {r.stderr}"

    config = (host / "containerd/config.toml").read_text()
    table = config[config.index('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]'):]
    table = table[:table.index("\n\n")]
    assert 'base_runtime_spec = "/etc/containerd/pagemeld-base-spec.json"' in table
    assert 'pod_annotations = ["*.pagemeld.io", "*.pagemeld.io/*"]' in table
    # the config containerd itself would load: `containerd config dump` of it
    r = subprocess.run(["containerd", "--config", str(host / "containerd/config.toml"), "config", "dump"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and 'base_runtime_spec = "/etc/containerd/pagemeld-base-spec.json"' in r.stdout, \
        r.stderr

    # PAGEMELD_CONTAINERD_CONFIG=skip: the base spec only
    host2, socks2 = fake_host(tmp_path / "skip", "containerd")
    out = run_install_host(tmp_path / "skip", host2, PAGEMELD_CONTAINERD_CONFIG="skip")
    assert "config.toml left alone" in out, out
    assert [p.name for p in (host2 / "containerd").iterdir()] == ["pagemeld-base-spec.json"]


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
        # kube play writes none of the identity keys pagemeld reads
        # (lib/pod-identity.h): under podman a pod has no identity
        ident = {"io.kubernetes.cri.sandbox-namespace", "io.kubernetes.cri.sandbox-name",
                 "io.kubernetes.cri.sandbox-uid", "io.kubernetes.cri.container-name",
                 "io.kubernetes.pod.namespace", "io.kubernetes.pod.name", "io.kubernetes.pod.uid",
                 "io.kubernetes.container.name"}
        assert not ident & set(ann), ann
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
