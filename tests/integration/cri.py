# SPDX-License-Identifier: LGPL-2.1-or-later
"""containerd (the Debian package) behind its CRI API, for the end-to-end
test of the hook on Kubernetes' most common runtime, with no kubelet and no
crictl: a Python gRPC client speaks CRI v1 from the project's own
cri_v1.proto, whose stubs are generated into the workspace at run time.

Everything containerd owns is private to the test: root, state, gRPC and
ttrpc sockets, the runc state root of its shims, the CNI directories (empty:
the pod uses the host network, so CNI is never called), the CRI stream
server (port 0), and the pods' cgroup parent (/pagemeld-cri-<tag>, removed
after, as podman's in oci.py).
The config is the one packaging/containerd/pagemeld-containerd-setup makes
from a private base config, with the base spec it makes from `ctr oci spec`.
What is not private: the shims' sockets live in /run/containerd/s/ (a path
compiled into containerd 1.6), named by a hash of our socket's path, so
they cannot collide with a system containerd's.

stop() ends what the test started and nothing else: containerd by its pid,
then any shim still serving our socket (found by its -address argument),
then leftover mounts below the workspace.
"""
import hashlib
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import tarfile
import time

from conftest import SRC, try_rmdir, wait_for

SETUP = SRC / "packaging" / "containerd" / "pagemeld-containerd-setup"
PROTO = pathlib.Path(__file__).with_name("cri_v1.proto")
K8S_NS = "k8s.io"


def generate_stubs(out_dir):
    """cri_v1_pb2 and cri_v1_pb2_grpc from cri_v1.proto, imported from out_dir."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}", f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}", str(PROTO)], check=True, capture_output=True, text=True)
    sys.path.insert(0, str(out_dir))
    try:
        import importlib
        for m in ("cri_v1_pb2", "cri_v1_pb2_grpc"):
            sys.modules.pop(m, None)
        pb2 = importlib.import_module("cri_v1_pb2")
        grpc_mod = importlib.import_module("cri_v1_pb2_grpc")
    finally:
        sys.path.remove(str(out_dir))
    return pb2, grpc_mod


def _sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def oci_image_archive(rootfs, name, cmd):
    """An OCI image layout tarball (one layer: rootfs) that `ctr images
    import` names `name`. Built by hand: no registry, no builder."""
    layer_io = io.BytesIO()
    with tarfile.open(fileobj=layer_io, mode="w") as t:
        t.add(str(rootfs), arcname=".")
    layer = layer_io.getvalue()
    config = json.dumps({
        "architecture": {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine),
        "os": "linux",
        "config": {"Cmd": list(cmd), "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [_sha256(layer)]},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _sha256(layer),
                    "size": len(layer)}],
    }).encode()
    arch = json.loads(config)["architecture"]
    index = json.dumps({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": _sha256(manifest),
                       "size": len(manifest), "platform": {"architecture": arch, "os": "linux"},
                       "annotations": {"io.containerd.image.name": name,
                                       "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}}],
    }).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as t:
        def add(path, data):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add("index.json", index)
        for blob in (layer, config, manifest):
            add("blobs/sha256/" + hashlib.sha256(blob).hexdigest(), blob)
    return out.getvalue()


BASE_CONFIG = """version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.internal.v1.tracing", "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # the test runs with a raised oom_score_adj of its own
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{d}/cni/bin"
    conf_dir = "{d}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    # copies, no overlay: the workspace may sit on any file system
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        # the shims' runc state, away from /run/containerd/runc
        Root = "{d}/runc"
"""


class Containerd:
    """A private containerd with the pagemeld base spec, and a CRI client."""

    def __init__(self, ws, hook_args, hook_env, image="localhost/pagemeld-cri:1"):
        self.ws = ws
        self.dir = ws.path("containerd")
        self.dir.mkdir()
        for sub in ("cni/bin", "cni/conf", "logs"):
            (self.dir / sub).mkdir(parents=True)
        self.socket = self.dir / "containerd.sock"
        self.image = image
        self.log_path = self.dir / "containerd.log"
        self.proc = None
        self.log = None
        self.channel = None
        self.made_dirs = []
        self.pods = []
        self.pb2, self.grpc_mod = generate_stubs(self.dir / "stubs")
        self.base_spec = self.dir / "pagemeld-base-spec.json"
        self.config = self.dir / "config.toml"
        (self.dir / "base.toml").write_text(BASE_CONFIG.format(d=self.dir, sandbox_image=image))
        args = [a for x in hook_args for a in ("--hook-arg", x)] + [a for e in hook_env for a in ("--hook-env", e)]
        self.setup_output = [
            self.run_setup("base-spec", "-o", self.base_spec, "--hook-path", hook_args_path(), *args),
            self.run_setup("config", "--config", self.dir / "base.toml", "--base-spec", self.base_spec, "-o",
                           self.config),
        ]
        ws.on_cleanup(self.stop)

    @staticmethod
    def run_setup(*args):
        r = subprocess.run(["sh", str(SETUP), *map(str, args)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"pagemeld-containerd-setup {args[0]}: {r.stdout}{r.stderr}"
        return r.stdout.strip()

    def without_pod_annotations(self):
        """Undo the setup's pod_annotations: no pod annotation reaches the specs."""
        text = self.config.read_text()
        assert 'pod_annotations = ["*.pagemeld.io", "*.pagemeld.io/*"]' in text
        self.config.write_text(text.replace('pod_annotations = ["*.pagemeld.io", "*.pagemeld.io/*"]',
                                            "pod_annotations = []"))

    def start(self):
        # the shims' socket directory (see above): removed after if ours
        self.made_dirs = [d for d in ("/run/containerd/s", "/run/containerd") if not os.path.exists(d)]
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(["containerd", "--config", str(self.config)], stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        wait_for(lambda: self._alive() and self.socket.exists(), 60, interval=0.1, what="containerd socket")
        import grpc
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        self.runtime = self.grpc_mod.RuntimeServiceStub(self.channel)
        self.images = self.grpc_mod.ImageServiceStub(self.channel)

        def version():
            self._alive()
            try:
                return self.runtime.Version(self.pb2.VersionRequest(version="v1"), timeout=5)
            except grpc.RpcError:
                return None
        return wait_for(version, 60, interval=0.2, what="CRI Version")

    def _alive(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"containerd exited with {self.proc.returncode}:\n{self.read_log()[-4000:]}")
        return True

    def read_log(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def ctr(self, *args, **kw):
        return subprocess.run(["ctr", "--address", str(self.socket), "-n", K8S_NS, *args], capture_output=True,
                              timeout=120, **kw)

    def import_image(self, rootfs, cmd):
        tar = self.dir / "image.tar"
        tar.write_bytes(oci_image_archive(rootfs, self.image, cmd))
        r = self.ctr("images", "import", "--snapshotter", "native", str(tar), text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        st = self.images.ImageStatus(self.pb2.ImageStatusRequest(image=self.pb2.ImageSpec(image=self.image)),
                                     timeout=30)
        assert self.image in st.image.repo_tags, st
        return st.image

    def sandbox_config(self, name, namespace, uid, annotations, cgroup_parent):
        pb = self.pb2
        host = pb.NamespaceOption(network=pb.NODE)
        # No hostname: with the host network the UTS namespace is the host's.
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace=namespace, attempt=0),
            log_directory=str(self.dir / "logs"), annotations=annotations,
            linux=pb.LinuxPodSandboxConfig(cgroup_parent=cgroup_parent,
                                           security_context=pb.LinuxSandboxSecurityContext(namespace_options=host)))

    def run_pod(self, config):
        r = self.runtime.RunPodSandbox(self.pb2.RunPodSandboxRequest(config=config), timeout=120)
        self.pods.append(r.pod_sandbox_id)
        return r.pod_sandbox_id

    def create_start(self, pod_id, pod_config, name, command):
        pb = self.pb2
        cfg = pb.ContainerConfig(
            metadata=pb.ContainerMetadata(name=name, attempt=0), image=pb.ImageSpec(image=self.image),
            command=list(command), log_path=f"{name}.log",
            linux=pb.LinuxContainerConfig(security_context=pb.LinuxContainerSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.NODE))))
        cid = self.runtime.CreateContainer(pb.CreateContainerRequest(pod_sandbox_id=pod_id, config=cfg,
                                                                      sandbox_config=pod_config),
                                           timeout=120).container_id
        self.runtime.StartContainer(pb.StartContainerRequest(container_id=cid), timeout=120)
        return cid

    def container_status(self, cid):
        r = self.runtime.ContainerStatus(self.pb2.ContainerStatusRequest(container_id=cid, verbose=True),
                                         timeout=30)
        return r.status, json.loads(r.info["info"])

    def sandbox_pid(self, pod_id):
        r = self.runtime.PodSandboxStatus(self.pb2.PodSandboxStatusRequest(pod_sandbox_id=pod_id, verbose=True),
                                          timeout=30)
        return int(json.loads(r.info["info"])["pid"])

    def oci_spec(self, cid):
        """The config.json runc got for a container or sandbox."""
        p = self.dir / "state" / "io.containerd.runtime.v2.task" / K8S_NS / cid / "config.json"
        return json.loads(p.read_text())

    def stop_pod(self, pod_id):
        self.runtime.StopPodSandbox(self.pb2.StopPodSandboxRequest(pod_sandbox_id=pod_id), timeout=120)

    def remove_pod(self, pod_id):
        self.runtime.RemovePodSandbox(self.pb2.RemovePodSandboxRequest(pod_sandbox_id=pod_id), timeout=120)
        self.pods.remove(pod_id)

    def our_shims(self):
        """pids of containerd-shim-runc-v2 processes serving our socket."""
        want = str(self.socket).encode()
        pids = []
        for p in pathlib.Path("/proc").iterdir():
            if not p.name.isdigit():
                continue
            try:
                argv = (p / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and want in argv:
                pids.append(int(p.name))
        return pids

    def stop(self):
        """Pods removed through CRI, containerd stopped, shims and mounts gone."""
        errors = []
        if self.proc is not None and self.proc.poll() is None:
            for pod in list(self.pods):
                try:
                    self.stop_pod(pod)
                    self.remove_pod(pod)
                except Exception as e:  # keep cleaning up
                    errors.append(e)
            if self.channel is not None:
                self.channel.close()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None
        shims = self.our_shims()
        for pid in shims:
            os.kill(pid, signal.SIGKILL)
        if shims:
            time.sleep(0.5)
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f if line.split()[1].startswith(str(self.dir) + "/")]
        for m in sorted(mounts, key=len, reverse=True):
            subprocess.run(["umount", "-l", m], capture_output=True)
        for d in self.made_dirs:
            try_rmdir(d)  # only when empty: never another containerd's
        if errors or shims:
            raise AssertionError(f"containerd clean-up: pods left {errors}, shims killed {shims}")


def hook_args_path():
    from oci import hook_path
    return hook_path()
