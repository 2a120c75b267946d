# SPDX-License-Identifier: LGPL-2.1-or-later
"""Real runc containers handed to pagemeldd the way the OCI hook does it:
the init registered at `created` (blocked before exec), merging surviving
exec, a later `runc exec` process found by the sweep, and the cgroup object
gone with the container.

runc (cgroupfs driver) on this hybrid host creates the container's directory
in every v1 hierarchy it finds, memory included, and sets no limit there
since the spec sets none; `runc delete` removes them all again. cgroupsPath
is a single top-level name so nothing is left behind."""
import glob
import json
import os
import shutil
import subprocess
import tempfile

import dbus
import pytest

from conftest import CGROUP_V2, build_path, ksm_stat, require_root, try_rmdir, wait_for

BUSYBOX = "/bin/busybox"


class Runc:
    def __init__(self):
        self.root = tempfile.mkdtemp(prefix="pagemeld-runc-root-", dir="/run")
        self.dir = tempfile.mkdtemp(prefix="pagemeld-runc-")
        self.ids = []

    def run(self, *args, **kw):
        return subprocess.run(["runc", "--root", self.root] + list(args), check=True, capture_output=True,
                              text=True, timeout=60, **kw)

    def create(self, args, annotations=None):
        cid = f"pagemeld-test-{os.getpid()}-{len(self.ids)}"
        bundle = os.path.join(self.dir, cid)
        rootfs = os.path.join(bundle, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"))
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        for tool in ("sh", "sleep", "cat"):
            os.symlink("busybox", os.path.join(rootfs, "bin", tool))
        shutil.copy(build_path("tests", "memfill"), os.path.join(rootfs, "memfill"))
        subprocess.run(["runc", "spec"], cwd=bundle, check=True)
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
        spec["process"]["terminal"] = False
        spec["process"]["args"] = args
        spec["root"]["readonly"] = True
        spec["linux"]["cgroupsPath"] = "/" + cid  # one level: runc delete removes it everywhere
        spec["annotations"] = annotations or {}
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(spec, f)
        self.ids.append(cid)
        # runc init keeps the stdio it is given: a pipe would never reach EOF
        with open(os.path.join(bundle, "create.log"), "w+") as log:
            r = subprocess.run(["runc", "--root", self.root, "create", "--bundle", bundle, cid],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, timeout=60)
            log.seek(0)
            assert r.returncode == 0, f"runc create failed: {log.read()}"
        return cid

    def state(self, cid):
        return json.loads(self.run("state", cid).stdout)

    def cleanup(self):
        for cid in self.ids:
            subprocess.run(["runc", "--root", self.root, "delete", "--force", cid], capture_output=True,
                           timeout=60)
            # whatever runc left (a failed create): its processes and directories
            procs = CGROUP_V2 / cid / "cgroup.procs"
            for pid in procs.read_text().split() if procs.exists() else []:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            for d in glob.glob(f"/sys/fs/cgroup/*/{cid}"):
                wait_for(lambda: try_rmdir(d), 10, what=f"rmdir {d}")
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def runc():
    require_root()
    if not shutil.which("runc") or not os.path.exists(BUSYBOX):
        pytest.fail("runc or busybox-static missing: scripts/install-deps.sh installs them")
    r = Runc()
    try:
        yield r
    finally:
        r.cleanup()


def test_runc_container_registered_at_create(daemon, manager, runc):
    memfill = ["/memfill", "--same", "256", "--unique", "16", "--sleep", "0"]
    ann = {"merge.pagemeld.io": "true", "merge-budget.pagemeld.io": "1Gi", "io.kubernetes.container.name": "app"}
    cid = runc.create(memfill, ann)
    st = runc.state(cid)
    assert st["status"] == "created"
    init = st["pid"]
    # what the hook does at createRuntime: the init's pidfd and the annotations
    obj = manager.register(cid, init, st.get("annotations") or ann)
    assert ksm_stat(init)["ksm_merge_any"]
    props = manager.cgroup_props(obj)
    assert props["Path"] == "/" + cid
    assert (CGROUP_V2 / cid).is_dir()
    assert props["MergeBudget"] == 1 << 30

    runc.run("start", cid)
    wait_for(lambda: os.readlink(f"/proc/{init}/exe").endswith("memfill"), 10, what="exec of memfill")
    assert ksm_stat(init)["ksm_merge_any"], "merge-any must survive exec"

    # a later `runc exec` process is picked up by the sweep
    ex = subprocess.Popen(["runc", "--root", runc.root, "exec", cid] + memfill, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True)
    try:
        assert ex.stdout.readline().startswith("ready ")
        procs = [int(p) for p in (CGROUP_V2 / cid / "cgroup.procs").read_text().split()]
        late = [p for p in procs if p != init]
        assert late
        manager.sweep()
        for p in late:
            assert ksm_stat(p)["ksm_merge_any"], f"sweep did not enable merging in exec'd pid {p}"
        assert manager.cgroup_props(obj)["Processes"] == len(procs)
    finally:
        ex.terminate()
        ex.wait(30)
        ex.stdout.close()

    # the container ends with its init: pagemeldd unregisters it by itself
    # (the object goes with its last container), before any poststop, which
    # then finds nothing to unregister (the hook takes that as done)
    runc.run("kill", cid, "KILL")
    wait_for(lambda: manager.list_cgroups() == [], 10, what="unregistered when its init exited")
    assert manager.get("ManagedContainers") == 0
    with pytest.raises(dbus.exceptions.DBusException, match="io.pagemeld1.Error.NoSuchContainer"):
        manager.unregister(cid)


def test_runc_container_deleted_without_unregister_is_dropped_by_sweep(daemon, manager, runc):
    cid = runc.create(["/bin/sleep", "1000"])
    st = runc.state(cid)
    manager.register(cid, st["pid"], {"merge.pagemeld.io": "true"})
    runc.run("delete", "--force", cid)
    manager.sweep()
    assert manager.list_cgroups() == []
    assert manager.get("ManagedContainers") == 0
