# SPDX-License-Identifier: LGPL-2.1-or-later
"""pagemeld-oci-hook end to end: real runtimes (runc, crun, podman
run, podman kube play) run containers with memfill, the hook registers them
with the real pagemeldd on a private bus, KSM merges, and D-Bus
(ListCgroups, the Cgroup objects) shows the merged pages of the opted-in
containers' cgroups and nothing for the others. poststop unregisters.

The hook runs with --fail-mode closed here so that any failure along the
chain fails the container loudly instead of letting it run unmerged.
"""
import json
import os
import subprocess
import time

from conftest import CGROUP_V2, ksm_fast_scan, wait_for
from oci import Crun, Podman, Runc, hook_entry, hook_path, ksm_stat, memfill_args, v2_cgroup_of

SAME, UNIQUE = 2048, 256
HOOK_ARGS = ("--fail-mode", "closed")


def hooks_for(daemon):
    return {"createRuntime": [hook_entry("create", daemon.bus_address, HOOK_ARGS, daemon.state_dir)],
            "poststop": [hook_entry("stop", daemon.bus_address, HOOK_ARGS, daemon.state_dir)]}


def row_for(manager, cgroup_path):
    for r in manager.list_cgroups():
        if str(r[1]) == cgroup_path:
            return r
    return None


def wait_merged(manager, cgroup_path, pid):
    """The cgroup's MergingPages (ListCgroups and the Cgroup object) reach
    the identical pages memfill made."""
    want = SAME * 0.95

    def merged():
        manager.sweep()  # the test daemon sweeps hourly: refresh the figures now
        r = row_for(manager, cgroup_path)
        return r is not None and int(r[2]) >= want and r
    row = wait_for(merged, 90, interval=0.2, what=f"{SAME} merged pages in {cgroup_path}")
    props = manager.cgroup_props(str(row[0]))
    assert props["Path"] == cgroup_path
    assert int(props["MergingPages"]) >= want
    # Without the v2 memory controller (this host's hybrid
    # hierarchy) budgets cannot work and State says so; merging goes on.
    memcg = (CGROUP_V2 / cgroup_path.lstrip("/") / "memory.current").exists()
    assert props["State"] == ("merging" if memcg else "unsupported")
    st = ksm_stat(pid)
    assert st["ksm_merge_any"] == 1
    assert st["ksm_merging_pages"] >= want
    return row


def wait_memfill_ready(pid, timeout=30):
    """memfill has written its pages once its comm is memfill and its RSS
    holds them."""
    def ready():
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "memfill":
                    return False
            with open(f"/proc/{pid}/status") as f:
                rss = [int(x.split()[1]) for x in f if x.startswith("VmRSS:")][0]
            return rss * 1024 >= (SAME + UNIQUE) * 4096
        except (FileNotFoundError, ProcessLookupError):
            return False
    wait_for(ready, timeout, what=f"memfill {pid} ready")


def run_and_check(rt, daemon, manager, name):
    b = rt.bundle(name, memfill_args(SAME, UNIQUE), {"merge.pagemeld.io": "true",
                                                     "trust-domain.pagemeld.io": "hooktest"}, hooks_for(daemon))
    rc, pid = rt.run_detached(b)
    assert rc == 0, b.output()
    cg = v2_cgroup_of(pid)
    assert cg not in ("/", ""), "the container needs a v2 cgroup of its own"
    # Registered at createRuntime, before memfill even ran.
    row = row_for(manager, cg)
    assert row is not None, manager.list_cgroups()
    props = manager.cgroup_props(str(row[0]))
    assert [str(c[0]) for c in props["Containers"]] == [b.id]
    assert props["TrustDomain"] == "Host/hooktest"  # no namespace under runc, crun, podman

    # pagemeldd's registration marker, where the poststop hook looks for it
    marker = os.path.join(daemon.state_dir, "containers", b.id)
    assert os.path.exists(marker)

    wait_memfill_ready(pid)
    ksm_fast_scan()
    wait_merged(manager, cg, pid)

    # poststop unregisters: the cgroup is forgotten.
    p = rt.delete(b.id)
    assert p.returncode == 0, p.stderr
    wait_for(lambda: row_for(manager, cg) is None, 15, what=f"{cg} unregistered")
    assert rt.state(b.id) is None
    # ... and its marker is gone, so another poststop needs no D-Bus: a dead
    # bus under fail-mode closed would fail it loudly.
    assert not os.path.exists(marker)
    p = subprocess.run([hook_path(), "--config", "/dev/null", "--fail-mode", "closed", "stop"],
                       input=json.dumps({"ociVersion": "1.0.2", "id": b.id, "status": "stopped",
                                         "annotations": {"merge.pagemeld.io": "true"}}),
                       env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS="unix:path=/nonexistent/pagemeld-test-bus",
                                PAGEMELD_STATE_DIR=daemon.state_dir),
                       capture_output=True, text=True, timeout=15)
    assert (p.returncode, p.stdout, p.stderr) == (0, "", "")


def test_runc(ksm, daemon, manager, ws):
    run_and_check(Runc(ws), daemon, manager, "runc")


def test_crun(ksm, daemon, manager, ws):
    run_and_check(Crun(ws), daemon, manager, "crun")


def test_runc_opted_out_is_not_registered(daemon, manager, ws):
    rt = Runc(ws)
    b = rt.bundle("optout", memfill_args(64, 8), {"merge.pagemeld.io": "false"}, hooks_for(daemon))
    rc, pid = rt.run_detached(b)
    assert rc == 0, b.output()
    wait_memfill_ready_small(pid)
    assert row_for(manager, v2_cgroup_of(pid)) is None
    assert ksm_stat(pid)["ksm_merge_any"] == 0
    assert rt.delete(b.id).returncode == 0


def wait_memfill_ready_small(pid):
    wait_for(lambda: open(f"/proc/{pid}/comm").read().strip() == "memfill", 30, what="memfill running")


def test_podman_run(ksm, daemon, manager, ws):
    pm = Podman(ws, daemon.bus_address, HOOK_ARGS, daemon.state_dir)
    p = pm.run_detached("pmh-run", memfill_args(SAME, UNIQUE), {"merge.pagemeld.io": "true"})
    assert p.returncode == 0, p.stderr
    pid = pm.pid("pmh-run")
    cg = v2_cgroup_of(pid)
    assert cg.startswith(pm.cgroup_parent + "/"), cg
    wait_memfill_ready(pid)
    ksm_fast_scan()
    wait_merged(manager, cg, pid)
    pm.podman("rm", "--force", "--time", "0", "pmh-run", check=True)
    wait_for(lambda: row_for(manager, cg) is None, 15, what=f"{cg} unregistered")


POD = """apiVersion: v1
kind: Pod
metadata:
  name: pmhpod
  annotations:
    merge.pagemeld.io: "true"
    merge.pagemeld.io/optout: "false"
spec:
  restartPolicy: Never
  containers:
  - name: merged
    image: {image}
    command: {cmd}
  - name: optout
    image: {image}
    command: {cmd}
"""


def test_podman_kube_play_per_container_opt_out(ksm, daemon, manager, ws):
    pm = Podman(ws, daemon.bus_address, HOOK_ARGS, daemon.state_dir)
    cmd = "[" + ", ".join(f'"{a}"' for a in memfill_args(SAME, UNIQUE)) + "]"
    p = pm.kube_play(POD.format(image=pm.image, cmd=cmd))
    assert p.returncode == 0, p.stdout + p.stderr
    merged, optout = pm.pid("pmhpod-merged"), pm.pid("pmhpod-optout")
    cg_merged, cg_optout = v2_cgroup_of(merged), v2_cgroup_of(optout)
    assert cg_merged != cg_optout
    wait_memfill_ready(merged)
    wait_memfill_ready(optout)
    ksm_fast_scan()
    wait_merged(manager, cg_merged, merged)
    # kube play sets no identity keys (io.container.manager: libpod only)
    props = manager.cgroup_props(str(row_for(manager, cg_merged)[0]))
    assert (props["PodNamespace"], props["PodName"], props["PodUID"]) == ("", "", "")
    assert [str(c[1]) for c in props["Containers"]] == [""]
    assert tuple(map(str, row_for(manager, cg_merged)[9:12])) == ("", "", "")
    # The opted-out container was never handed over: no cgroup object,
    # merging off in its process, no merged pages, while its twin merged.
    time.sleep(1)
    assert row_for(manager, cg_optout) is None
    st = ksm_stat(optout)
    assert st["ksm_merge_any"] == 0 and st["ksm_merging_pages"] == 0
    # Neither is the infra (pause) container: one cgroup in all.
    assert [str(r[1]) for r in manager.list_cgroups()] == [cg_merged]

    pm.podman("pod", "rm", "--force", "--time", "0", "pmhpod", check=True)
    wait_for(lambda: manager.list_cgroups() == [], 15, what="pod unregistered")
