# SPDX-License-Identifier: LGPL-2.1-or-later
"""Container runtimes for the hook's end-to-end tests: a busybox
rootfs with memfill, runc/crun bundles whose config.json carries the hook,
and podman with private storage and a hooks dir generated from
packaging/oci-hooks.d. Everything lives under one temp dir and is removed,
containers included, by cleanup().

Quirks of this machine (hybrid cgroups, v1 memory controller in use) and
what is done about them:
- runc: linux.cgroupsPath is relative ("pagemeld-hooktest-..."), so runc
  creates the container's cgroups below its own in every hierarchy: in v1
  memory that is inside our own memory cgroup, in the v2 hierarchy a fresh
  directory per container (what pagemeldd accounts); runc removes them all
  on delete.
- crun 1.8 refuses hybrid mode while the v2 hierarchy has any controller
  ("cgroups in hybrid mode not supported", hugetlb is on v2 here), even
  with --cgroup-manager=disabled. It runs in a private mount namespace where
  an empty file hides /sys/fs/cgroup/unified/cgroup.controllers, with
  --cgroup-manager=disabled, started from inside a scratch v2 cgroup that
  the container inherits: no v1 cgroup is touched at all.
- podman 4.3: runtime runc (crun as above cannot run under podman), cgroup
  manager cgroupfs with an absolute cgroup parent of ours, file events,
  nofile/nproc ulimits of 1024 (the default raises them above this
  session's hard limit), vfs storage in the temp dir, no network, and a
  local image imported from the rootfs tarball (no registry).
"""
import json
import os
import pathlib
import shutil
import subprocess
import tarfile
import tempfile
import time

from conftest import CGROUP_V2, SRC, build_path, try_rmdir, wait_for

BUSYBOX = "/bin/busybox"
HOOK_ANNOTATION_KEY = "^merge\\.pagemeld\\.io(/.+)?$"


def hook_path():
    return str(build_path("runtime-hook", "pagemeld-oci-hook"))


def v2_cgroup_of(pid):
    for line in pathlib.Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    raise AssertionError(f"no v2 cgroup for {pid}")


def ksm_stat(pid):
    """/proc/PID/ksm_stat as a dict; "ksm_merge_any: yes|no" (6.14+) as 1/0."""
    out = {}
    for line in pathlib.Path(f"/proc/{pid}/ksm_stat").read_text().splitlines():
        k, v = line.split()
        k = k.rstrip(":")
        out[k] = {"yes": 1, "no": 0}.get(v, int(v) if v.lstrip("-").isdigit() else v)
    return out


class Workspace:
    """A temp dir with a busybox+memfill rootfs, shared by the runtimes."""

    def __init__(self):
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="pagemeld-hooktest-"))
        self.tag = f"{os.getpid()}-{int(time.monotonic() * 1000) % 100000}"
        self.rootfs = self.dir / "rootfs"
        self._make_rootfs()
        self.cleanups = []

    def _make_rootfs(self):
        b = self.rootfs / "bin"
        b.mkdir(parents=True)
        for d in ("proc", "sys", "dev", "tmp", "etc", "run"):
            (self.rootfs / d).mkdir()
        shutil.copy(BUSYBOX, b / "busybox")
        for applet in ("sh", "true", "sleep", "cat", "ls"):
            os.symlink("busybox", b / applet)
        shutil.copy(build_path("tests", "memfill"), b / "memfill")

    def path(self, *parts):
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def on_cleanup(self, fn):
        self.cleanups.append(fn)

    def cleanup(self):
        errors = []
        for fn in reversed(self.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning; report at the end
                errors.append(e)
        shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise errors[0]


def hook_entry(stage, bus_address, extra_args=(), state_dir=None):
    """A runc/hooks.d hook entry. state_dir: the test pagemeldd's, where the
    hook looks for registration markers (PAGEMELD_STATE_DIR; runtimes give
    hooks only the entry's env)."""
    env = [f"DBUS_SYSTEM_BUS_ADDRESS={bus_address}"]
    if state_dir is not None:
        env.append(f"PAGEMELD_STATE_DIR={state_dir}")
    return {"path": hook_path(), "args": ["pagemeld-oci-hook", *extra_args, stage], "env": env}


def memfill_args(same=2048, unique=256):
    return ["/bin/memfill", "--same", str(same), "--unique", str(unique), "--sleep", "0"]


class Bundle:
    """An OCI bundle for runc or crun: rootfs bind of the workspace's."""

    def __init__(self, ws, name, args, annotations=None, hooks=None, cgroups_path=None):
        self.ws = ws
        self.name = name
        self.id = f"pmh-{name}-{ws.tag}"
        self.dir = ws.path("bundles", name)
        self.dir.mkdir(parents=True)
        subprocess.run(["runc", "spec", "--bundle", str(self.dir)], check=True)
        cfg = json.loads((self.dir / "config.json").read_text())
        cfg["root"] = {"path": str(ws.rootfs), "readonly": True}
        cfg["process"]["terminal"] = False
        cfg["process"]["args"] = list(args)
        cfg["hostname"] = name
        if annotations is not None:
            cfg["annotations"] = dict(annotations)
        if hooks:
            cfg["hooks"] = hooks
        if cgroups_path:
            cfg["linux"]["cgroupsPath"] = cgroups_path
        else:
            cfg["linux"].pop("cgroupsPath", None)
        (self.dir / "config.json").write_text(json.dumps(cfg, indent=1))
        self.log = ws.path("logs", f"{name}.log")

    def output(self):
        return self.log.read_text() if self.log.exists() else ""


class Runc:
    """runc with a private state root."""

    binary = "runc"

    def __init__(self, ws):
        self.ws = ws
        self.root = ws.path(f"{self.binary}-root")
        self.root.mkdir(exist_ok=True)
        self.created = []
        ws.on_cleanup(self.cleanup)

    def cmd(self, *args):
        return [self.binary, "--root", str(self.root), *args]

    def bundle(self, name, args, annotations=None, hooks=None):
        # Relative: below our own cgroup in every hierarchy (see above).
        return Bundle(self.ws, name, args, annotations, hooks, cgroups_path=f"pagemeld-hooktest-{name}-{self.ws.tag}")

    def _run(self, argv, b, timeout):
        with open(b.log, "a") as out:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=timeout)

    def run_detached(self, b, timeout=60):
        """runc run -d: returns (returncode, init pid or None)."""
        pidfile = self.ws.path("pids", b.name)
        self.created.append(b.id)
        p = self._run(self.cmd("run", "-d", "--pid-file", str(pidfile), "--bundle", str(b.dir), b.id), b,
                      timeout)
        if p.returncode != 0:
            return p.returncode, None
        return 0, int(pidfile.read_text())

    def run_foreground(self, b, timeout=60):
        self.created.append(b.id)
        return self._run(self.cmd("run", "--bundle", str(b.dir), b.id), b, timeout).returncode

    def delete(self, cid, timeout=60):
        p = subprocess.run(self.cmd("delete", "--force", cid), capture_output=True, text=True, timeout=timeout)
        return p

    def state(self, cid):
        p = subprocess.run(self.cmd("state", cid), capture_output=True, text=True)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def cleanup(self):
        for cid in self.created:
            if self.state(cid) is not None:
                self.delete(cid)
        left = [c for c in self.created if self.state(c) is not None]
        assert not left, f"{self.binary} containers left: {left}"


class Crun(Runc):
    """crun in its own mount namespace (hybrid-mode check hidden), without a
    cgroup manager, started from a scratch v2 cgroup per container."""

    binary = "crun"

    def __init__(self, ws):
        super().__init__(ws)
        self.empty = ws.path("empty-controllers")
        self.empty.write_text("")
        self.cgroups = {}

    def bundle(self, name, args, annotations=None, hooks=None):
        b = Bundle(self.ws, name, args, annotations, hooks, cgroups_path=None)
        cg = CGROUP_V2 / f"pagemeld-hooktest-{name}-{self.ws.tag}"
        cg.mkdir()
        self.cgroups[b.id] = cg
        return b

    def cmd(self, *args):
        return ["crun", "--root", str(self.root), "--cgroup-manager=disabled", *args]

    def wrap(self, argv, cgroup=None):
        enter = f"echo $$ > {cgroup}/cgroup.procs && " if cgroup else ""
        script = (f"{enter}mount --bind {self.empty} {CGROUP_V2}/cgroup.controllers && "
                  'exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "crun-wrap", *argv]

    def _run(self, argv, b, timeout):
        with open(b.log, "a") as out:
            return subprocess.run(self.wrap(argv, self.cgroups.get(b.id)), stdin=subprocess.DEVNULL, stdout=out,
                                  stderr=out, timeout=timeout)

    def delete(self, cid, timeout=60):
        return subprocess.run(self.wrap(self.cmd("delete", "--force", cid)), capture_output=True, text=True,
                              timeout=timeout)

    def state(self, cid):
        p = subprocess.run(self.wrap(self.cmd("state", cid)), capture_output=True, text=True)
        return json.loads(p.stdout) if p.returncode == 0 else None

    def cleanup(self):
        try:
            super().cleanup()
        finally:
            for cg in self.cgroups.values():
                if cg.exists():
                    wait_for(lambda: try_rmdir(cg), 10, what=f"rmdir {cg}")


class Podman:
    """podman with private storage, runc, cgroupfs and a generated hooks dir."""

    def __init__(self, ws, bus_address, hook_args=(), state_dir=None):
        self.ws = ws
        self.base = ws.path("podman")
        self.base.mkdir()
        self.conf = self.base / "containers.conf"
        self.cgroup_parent = f"/pagemeld-hooktest-podman-{ws.tag}"
        self.conf.write_text("""[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
""")
        self.hooks_dir = self.base / "hooks.d"
        self.hooks_dir.mkdir()
        # The real hooks.d files, pointed at the built hook and our bus.
        for f in (SRC / "packaging" / "oci-hooks.d").glob("*.json"):
            h = json.loads(f.read_text())
            stage = h["hook"]["args"][-1]
            h["hook"] = hook_entry(stage, bus_address, hook_args, state_dir)
            (self.hooks_dir / f.name).write_text(json.dumps(h))
        self.image = "localhost/pagemeld-hooktest:1"
        self.pods = []
        ws.on_cleanup(self.cleanup)
        tar = self.base / "rootfs.tar"
        with tarfile.open(tar, "w") as t:
            t.add(ws.rootfs, arcname=".")
        self.podman("import", str(tar), self.image, check=True)

    def env(self):
        return dict(os.environ, CONTAINERS_CONF=str(self.conf))

    def podman(self, *args, check=False, timeout=120, **kw):
        argv = ["podman", "--root", str(self.base / "root"), "--runroot", str(self.base / "run"),
                "--tmpdir", str(self.base / "tmp"), "--storage-driver", "vfs", "--hooks-dir",
                str(self.hooks_dir), *args]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env(),
                           stdin=subprocess.DEVNULL, **kw)
        if check and p.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
        return p

    def run_detached(self, name, args, annotations):
        ann = [a for k, v in annotations.items() for a in ("--annotation", f"{k}={v}")]
        return self.podman("run", "-d", "--name", name, "--network", "none", "--cgroup-parent",
                           self.cgroup_parent, "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
                           *ann, self.image, *args)

    def pid(self, name):
        p = self.podman("inspect", "--format", "{{.State.Pid}}", name, check=True)
        return int(p.stdout.strip())

    def kube_play(self, manifest_text):
        m = self.base / "pod.yaml"
        m.write_text(manifest_text)
        p = self.podman("kube", "play", "--network", "none", str(m))
        # "Pod:\n<id>\n..." : its cgroup is /libpod_parent/<id> (cgroupfs)
        lines = p.stdout.split()
        if "Pod:" in lines:
            self.pods.append(lines[lines.index("Pod:") + 1])
        return p

    def cleanup(self):
        self.podman("pod", "rm", "--all", "--force", "--time", "0")
        self.podman("rm", "--all", "--force", "--time", "0")
        left = self.podman("ps", "--all", "--quiet").stdout.split()
        # Not `podman system reset`: it would also drop the machine's CNI
        # networks, which are shared with every other podman user.
        self.podman("rmi", "--all", "--force")
        remove_cgroup_tree(self.cgroup_parent)
        for pod in self.pods:  # never /libpod_parent itself: others' pods may live there
            remove_cgroup_tree(f"/libpod_parent/{pod}")
        assert not left, f"podman containers left: {left}"


def remove_cgroup_tree(rel):
    """rmdir an (empty) cgroup tree the runtime made, in every hierarchy.
    Only directories: nothing is ever written into a v1 hierarchy."""
    for h in pathlib.Path("/sys/fs/cgroup").iterdir():
        top = h / rel.lstrip("/")
        if not top.is_dir():
            continue
        for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            try_rmdir(d)
        try_rmdir(top)

